"""The learning log for people: pages, a JSON API and ``/metrics``, behind sign-in.

One blueprint for the pages and the API (``pages``, ``api``), sign-in in front of it
(``auth``), lesson text made safe HTML (``render``), charts drawn on the server (``charts``)
from figures computed from the store (``insights``).
"""

from service.web.blueprint import install

__all__ = ["install"]
