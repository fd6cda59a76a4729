"""The learning log for people: pages, a JSON API and ``/metrics``, behind sign-in.

One blueprint for the pages and the API (``pages``, ``insights``, ``api``), sign-in in front
of it (``auth``), lesson text made safe HTML (``render``), charts drawn on the server
(``charts``, ``insight_charts``) and tables of figures as HTML and CSV (``insight_tables``,
``csv_tables``) from figures computed from the store (``service.learning.insight_figures``).
"""

from service.web.blueprint import install

__all__ = ["install"]
