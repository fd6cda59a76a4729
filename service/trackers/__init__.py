"""Everything lessonloop knows of each tracker, in one folder per tracker (``github/``, ``jira/``,
``pagerduty/``: webhook parser, markup dialect, client), and what they share here: the client
interface (``base``, ``errors``), the HTTP layer (``http/``), the webhook-source interface and
signing (``webhook``, ``signing``), the registry of entries by name (``registry``, pure) and the
building of clients (``clients``). Importing this package loads nothing else."""
