"""The settings file ``lessonloop init`` writes: rules for the trackers whose secrets are set.

Pure: the environment in, the file's text out. A rule for a tracker with no secret would stop
every command, so only enabled trackers get one; PagerDuty's rule needs a review target only the
operator knows, so it is written commented out, with the line ``lessonloop check`` will print
until it is filled in.
"""

from __future__ import annotations

from collections.abc import Mapping

HEADER = """\
# lessonloop settings, written by `lessonloop init` for the trackers whose webhook secrets were
# set: {enabled}. Every key: docs/settings.md. Secrets stay in the environment.

[review]
due_days = 5
labels = ["post-incident-review"]
jira_issue_type = "Task"
"""

RULES = {
    "github": """
# a GitHub issue labelled "incident", closed: its review opens in the same repository
[[rules]]
source = "github"
labels = ["incident"]
# review = "github:OWNER/postmortems"   # or keep every review in one repository
""",
    "jira": """
# a Jira issue of type Incident, done: its review opens in the same project
[[rules]]
source = "jira"
issue_types = ["Incident"]
# review = "jira:OPS"                    # or keep every review in one project
""",
    "pagerduty": """
# PagerDuty has no tasks: say where its reviews open, then uncomment
# [[rules]]
# source = "pagerduty"
# urgency = ["high"]
# review = "jira:OPS"                    # or "github:OWNER/REPO"
""",
}

NOTHING_ENABLED = """
# No webhook secret was set, so no rule is written: set LESSONLOOP_GITHUB_WEBHOOK_SECRET,
# LESSONLOOP_JIRA_WEBHOOK_SECRET or LESSONLOOP_PAGERDUTY_WEBHOOK_SECRET, then run
# `lessonloop init --force` again (docs/setup-github.md, setup-jira.md, setup-pagerduty.md).
"""

_SECRETS = {
    "github": ("LESSONLOOP_GITHUB_WEBHOOK_SECRET",),
    "jira": ("LESSONLOOP_JIRA_WEBHOOK_SECRET", "LESSONLOOP_JIRA_AUTOMATION_TOKEN"),
    "pagerduty": ("LESSONLOOP_PAGERDUTY_WEBHOOK_SECRET",),
}


def enabled_sources(environ: Mapping[str, str]) -> list[str]:
    """The trackers whose webhook secret (or ``_FILE``) is set, as the settings would enable them."""
    return [
        source
        for source, names in _SECRETS.items()
        if any((environ.get(name) or "").strip() or environ.get(f"{name}_FILE") for name in names)
    ]


def starter_file(environ: Mapping[str, str]) -> str:
    enabled = enabled_sources(environ)
    text = HEADER.format(enabled=", ".join(enabled) or "none")
    if not enabled:
        return text + NOTHING_ENABLED
    return text + "".join(RULES[source] for source in enabled)
