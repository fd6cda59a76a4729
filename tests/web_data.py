"""Lessons put straight into the store, for the learning log's tests and benchmark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from service.events import Item, ItemRef
from service.store import lessons, reviews

SECTIONS = ("what_happened", "what_we_expected", "why_different", "what_we_learned", "what_we_will_change")


def keep(engine: Engine, number: int, title: str, *, source: str = "github", tracker: str = "github",
         labels: tuple[str, ...] = (), service: str = "", incident_url: str | None = None,
         captured: bool = True, **sections: str) -> str:
    """An incident, its review and (``captured``) its lesson; the review's ref is returned."""
    incident = {"github": f"github:acme/web#{number}", "jira": f"jira:OPS-{number}",
                "pagerduty": f"pagerduty:P{number:06d}"}[source]
    review = f"github:acme/postmortems#{number}" if tracker == "github" else f"jira:PIR-{number}"
    url = f"https://x.example/{number}" if incident_url is None else incident_url
    reviews.save_incident(engine, Item(ref=ItemRef.parse(incident), title=title, url=url, labels=labels,
                                       service=service, closed_at=datetime.now(UTC) - timedelta(hours=5)))
    reviews.save_review(engine, incident_ref=ItemRef.parse(incident), ref=ItemRef.parse(review),
                        url=f"https://x.example/r{number}", template=None,
                        due_on=datetime.now(UTC).date() + timedelta(days=5))
    if not captured:
        return review
    text = {name: sections.get(name, f"Filler text number {number}.") for name in SECTIONS}
    text.update({key: value for key, value in sections.items() if key not in SECTIONS})
    lessons.save(engine, review_ref=review, incident_ref=incident, incident_title=title,
                 incident_url=url, priority="P2", review_url=f"https://x.example/r{number}",
                 sections=text, digest=f"d{number}-{hash(tuple(text.items()))}",
                 incident_closed_at=datetime.now(UTC) - timedelta(hours=5))
    return review
