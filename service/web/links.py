"""Where an item lives in its tracker, for links on the pages. URLs from tracker data are
hostile: only http(s) ones become links."""

from __future__ import annotations

from config.settings import Settings
from service.domain.events import ItemRef
from service.trackers.registry import tracker


def safe_url(url: str | None) -> str | None:
    if url and url.startswith(("https://", "http://")) and not any(c in url for c in "\"'<> \n\r\t"):
        return url
    return None


def item_url(settings: Settings, ref: str, known: dict[str, str] | None = None) -> str | None:
    """The item's page: a URL the store kept for it, else one built from the configured bases
    (GitHub issues, Jira ``/browse``); None when neither is known (PagerDuty's needs its
    account's subdomain)."""
    if known and ref in known:
        return safe_url(known[ref])
    try:
        item = ItemRef.parse(ref)
    except ValueError:
        return None
    built = tracker(item.source).page_url(settings, item)
    return safe_url(built) if built else None
