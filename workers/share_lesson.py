"""Sharing a kept lesson: one comment on the incident, the review and every related item, with
the lesson's follow-ups as they stand.

``sync_lesson`` shares a lesson when it is kept; a follow-up whose state changed
(``track_followups``) and ``lessonloop link`` share it again. They share it through this one
module, so the comment every item gets is the same whichever of them wrote it last.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlparse

from service import lesson
from service.domain import references as related
from service.domain.events import Item, ItemRef
from service.infra.failures import Permanent
from service.infra.runtime import Runtime
from service.lesson.followup_items import Shown, render_followups
from service.loop import scope
from service.loop.reach import lesson_reach
from service.store import followups, lessons, links, reviews
from service.text import markers
from service.trackers.registry import markup_of, tracker
from workers.effects import post_and_tidy
from workers.jobs import exclusive


@dataclass
class Shared:
    """Where one lesson went: posted on, skipped (a related item that refused), and not shared
    (named by the lesson beyond ``[lesson] max_related_items``, or outside the rule's scope)."""

    posted: int = 0
    skipped: list[str] = field(default_factory=list)
    not_shared: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    tidied: str = ""  # "; deleted our duplicate comment ...", for each item where a late write doubled it

    def describe(self) -> str:
        text = f"on {self.posted} items{self.tidied}"
        if self.skipped:
            text += f"; skipped {'; '.join(self.skipped)}"
        if self.not_shared:
            text += f"; not shared (over [lesson] max_related_items): {len(self.not_shared)} items: " + ", ".join(
                self.not_shared
            )
        if self.outside:
            text += f"; {scope.OUTSIDE}: {len(self.outside)} items: " + ", ".join(self.outside)
        return text


def share_again(runtime: Runtime, review_ref: str) -> str:
    """Post a kept lesson again on every related item, under the review's lock: after a link
    made by hand, or a follow-up whose state the lesson shows."""
    record = reviews.review(runtime.engine, review_ref)
    kept = lessons.get(runtime.engine, review_ref)
    if record is None or kept is None:
        return f"no lesson kept for {review_ref}"
    incident = reviews.incident(runtime.engine, record.incident_ref)
    if incident is None:
        return f"no incident recorded for {review_ref}"
    with exclusive(runtime, review_ref):
        template = lesson.load_template(record.template)
        shared = share(runtime, incident.as_item(), record, kept.sections | kept.other_sections, template, "")
    return f"lesson of {review_ref} {shared.describe()}"


def share(
    runtime: Runtime,
    incident: Item,
    record: reviews.ReviewRecord,
    sections: dict[str, str],
    template: lesson.LessonTemplate,
    review_body: str,
) -> Shared:
    """Post the lesson on the incident, the review and every related item.

    The incident and the review must take it: a permanent failure there fails the job with the
    tracker's message (replay once it is fixed; what was posted is not posted twice). Other
    related items are the lesson's reach, not its record: one that refuses (a mistyped link, an
    item our token cannot see) is skipped and named in the outcome. Anyone who can edit an
    incident can name hundreds of items in it, so items found in text must be in the rule's
    scope (those outside are named, never written to or read) and stop at
    ``[lesson] max_related_items``; items linked by hand (``lessonloop link``) always get it."""
    review_ref = ItemRef.parse(record.ref)
    known_urls = (incident.url, record.url)
    for found in sorted(referenced_items(runtime, incident.body + "\n" + review_body, known_urls), key=_natural_order):
        links.add(runtime.engine, incident.ref, found, "text")
    within = scope.of_review(runtime.settings, record)
    reach = lesson_reach(runtime.engine, incident.ref, review_ref, runtime.settings.lesson.max_related_items, within)
    failures: list[str] = []
    shared = Shared(not_shared=[str(ref) for ref in reach.beyond], outside=[str(ref) for ref in reach.outside])
    written_in = markup_of(review_ref.source)
    listed = shown_followups(runtime, review_ref, within)
    for item in reach.recipients:
        essential = item in (incident.ref, review_ref)
        try:
            client = runtime.client(item.source)
            alone = lesson.render_lesson_comment(
                sections, incident, record.url, template, client.markup, written_in=written_in
            )
            text = (
                lesson.render_lesson_comment(
                    sections,
                    incident,
                    record.url,
                    template,
                    client.markup,
                    written_in=written_in,
                    followups=render_followups(listed, written_in, client.markup),
                )
                if listed
                else alone
            )
            # an append-only tracker (PagerDuty) gets a new note when the lesson changes, not
            # when a follow-up's state does: its digest is the lesson's alone
            shared.tidied += post_and_tidy(
                runtime, client, item, markers.LESSON, str(review_ref), text, append_only_digest_of=alone
            )[1]
            shared.posted += 1
        except Permanent as error:
            (failures if essential else shared.skipped).append(f"{item}: {error}")
    if failures:
        raise Permanent(f"the lesson was not shared on {'; '.join(failures)}")
    return shared


def shown_followups(runtime: Runtime, review_ref: ItemRef | str, within: scope.Scope | None = None) -> list[Shown]:
    """The lesson's listed follow-ups, as its comment shows them. An issue outside ``within``
    (adopted before the scope said otherwise) shows neither its link nor its state: the
    comment is read by people who may not see that repository."""
    out = []
    for f in followups.of_review(runtime.engine, str(review_ref)):
        if not f.listed:
            continue
        if within is not None and f.ref and f.origin == followups.ADOPTED and ItemRef.parse(f.ref) not in within:
            out.append(Shown(f.text, "", None, followups.UNKNOWN, followups.NOT_OPENED, None, scope.OUTSIDE))
            continue
        out.append(Shown(f.text, f.url, f.ref, f.state, f.origin, f.due_on, f.reason))
    return out


def _natural_order(ref: ItemRef) -> tuple[str, str, int, str]:
    """github:acme/web#2 before #10: the order a person reads the items in."""
    head, number = tracker(ref.source).split_key(ref.key)
    return (ref.source, head, int(number) if number.isdigit() else 0, ref.key)


def referenced_items(runtime: Runtime, text: str, known_urls: tuple[str, ...]) -> set[ItemRef]:
    """Items the text names. GitHub's web host is LESSONLOOP_GITHUB_WEB_URL's, or the API's
    (``api.github.com`` -> ``github.com``, GHE's ``/api/v3`` -> its host), and whatever host
    our GitHub items' own links use, which is how the tracker itself spells them."""
    settings = runtime.settings
    github_hosts = {
        urlparse(settings.github.web_url).netloc
        if settings.github.web_url
        else related.github_web_host(settings.github.api_url)
    }
    for url in known_urls:
        if "/issues/" in url:
            github_hosts.add(urlparse(url).netloc)
    return related.find_refs(
        text,
        jira_projects=settings.containers_in("jira"),
        github_web_hosts=tuple(github_hosts),
        jira_web_hosts=tuple(host for host in [related.jira_web_host(settings.jira.url)] if host),
    )
