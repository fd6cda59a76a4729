"""Play the trackers and the team for a lessonloop running against the doubles (the walkthrough in docs/walkthrough.md).

    .venv/bin/python -m tests.walkthrough wait                      # until the doubles and lessonloop answer
    .venv/bin/python -m tests.walkthrough items                     # what the doubles hold
    .venv/bin/python -m tests.walkthrough close pagerduty:PGR0VU2   # close an incident and tell lessonloop
    .venv/bin/python -m tests.walkthrough fill jira:OPS-2           # write the lesson on the review, close it, tell lessonloop
    .venv/bin/python -m tests.walkthrough fill --followups jira:OPS-2   # the same, with three follow-ups
    .venv/bin/python -m tests.walkthrough show jira:OPS-2           # an item and its comments or notes, markers included

``close`` and ``fill`` change the item in the double (through its admin interface,
``<API URL>/_double``, see ``.venv/bin/python -m tests.doubles``), then send lessonloop the webhook that
tracker would send, built from the double's state the way ``tests/loop.py`` builds them and
signed with ``LESSONLOOP_<SOURCE>_WEBHOOK_SECRET``; then they wait until lessonloop has written
on the item (its worker runs the job a moment later). The doubles are found at
``--github/--jira/--pagerduty`` (a URL or a port), else ``LESSONLOOP_GITHUB_API_URL``,
``LESSONLOOP_JIRA_URL`` and ``LESSONLOOP_PAGERDUTY_API_URL``, else ports 8801-8803; lessonloop
at ``--lessonloop``, else ``LESSONLOOP_URL``, else http://127.0.0.1:8000.

Exit status: 0 done; 1 lessonloop refused the delivery or wrote nothing in time; 2 bad usage
or settings; 3 a double or lessonloop does not answer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import requests

from service.domain.events import ItemRef
from service.text import markers
from tests import loop, payloads

FOLLOWUP_ITEMS = (
    "Add error rate to canary checks (https://github.com/acme/web/issues/7)",
    "Alert on the 5xx rate of each deploy",
    "Write a runbook for rolling back a canary",
)
DEFAULT_PORTS = {"github": 8801, "jira": 8802, "pagerduty": 8803}
URL_ENV = {
    "github": "LESSONLOOP_GITHUB_API_URL",
    "jira": "LESSONLOOP_JIRA_URL",
    "pagerduty": "LESSONLOOP_PAGERDUTY_API_URL",
}
SECRET_ENV = {s: f"LESSONLOOP_{s.upper()}_WEBHOOK_SECRET" for s in DEFAULT_PORTS}
ADMIN_PATH = "/_double"
EXIT_FAILED, EXIT_USAGE, EXIT_UNAVAILABLE = 1, 2, 3


class Stop(Exception):
    """Ends the command with a message on stderr and an exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


# --- talking to the doubles and to lessonloop -------------------------------------------------


class Walkthrough:
    def __init__(self, args: argparse.Namespace) -> None:
        self.urls = {source: _double_url(getattr(args, source), source) for source in DEFAULT_PORTS}
        self.lessonloop = (args.lessonloop or os.environ.get("LESSONLOOP_URL") or "http://127.0.0.1:8000").rstrip("/")
        self.wait_seconds: float = args.wait
        self.http = requests.Session()

    # the doubles' admin interface

    def admin(self, method: str, source: str, path: str = "/", **kwargs: Any) -> Any:
        url = self.urls[source] + ADMIN_PATH + path
        try:
            answer = self.http.request(method, url, timeout=5, **kwargs)
        except requests.RequestException as error:
            raise Stop(
                f"the {source} double does not answer at {self.urls[source]} ({_reason(error)}); "
                f"start the doubles (.venv/bin/python -m tests.doubles) or say where they are "
                f"(--{source}, or {URL_ENV[source]})",
                EXIT_UNAVAILABLE,
            ) from None
        if answer.status_code == 404 and path == "/":
            raise Stop(
                f"{self.urls[source]} is not a double started by `.venv/bin/python -m tests.doubles` "
                f"(no admin interface at {ADMIN_PATH})",
                EXIT_UNAVAILABLE,
            )
        if answer.status_code >= 400:
            raise Stop(f"the {source} double: {_error_text(answer)}")
        return answer.json()

    def item_path(self, ref: ItemRef) -> str:
        return "/items/" + quote(ref.key, safe="/")

    def item(self, ref: ItemRef) -> dict[str, Any]:
        return self.admin("GET", ref.source, self.item_path(ref))

    def comments(self, ref: ItemRef) -> list[dict[str, Any]]:
        found = self.admin("GET", ref.source, self.item_path(ref) + "/comments")
        return found.get("notes", found.get("comments", []))

    # lessonloop

    def ready(self) -> None:
        try:
            answer = self.http.get(self.lessonloop + "/readyz", timeout=5)
        except requests.RequestException as error:
            raise Stop(
                f"lessonloop does not answer at {self.lessonloop} ({_reason(error)}); start it "
                f"(lessonloop serve) or say where it is (--lessonloop, or LESSONLOOP_URL)",
                EXIT_UNAVAILABLE,
            ) from None
        if answer.status_code != 200:
            raise Stop(f"lessonloop at {self.lessonloop} is not ready: {_error_text(answer)}", EXIT_UNAVAILABLE)

    def send(self, delivery: payloads.Delivery, what: str) -> dict[str, Any]:
        try:
            answer = self.http.post(
                self.lessonloop + delivery.path, data=delivery.body, headers=delivery.headers, timeout=10
            )
        except requests.RequestException as error:
            raise Stop(
                f"lessonloop does not answer at {self.lessonloop} ({_reason(error)})", EXIT_UNAVAILABLE
            ) from None
        try:
            data = answer.json()
        except ValueError:
            data = {"status": answer.text.strip()[:200]}
        said = ", ".join(f"{key} {data[key]}" for key in ("status", "delivery", "reason") if key in data)
        print(f"sent {what} to {self.lessonloop}{delivery.path}: {answer.status_code} {said}")
        if answer.status_code == 401:
            raise Stop(
                f"lessonloop refused the signature: set {SECRET_ENV[delivery.source]} to the same value "
                "here and in lessonloop's environment"
            )
        if answer.status_code == 404:
            raise Stop(f"lessonloop has {delivery.source} disabled: start it with {SECRET_ENV[delivery.source]} set")
        if answer.status_code not in (200, 202):
            raise Stop(f"lessonloop answered {answer.status_code}: {data.get('reason') or data.get('status')}")
        return data

    # waiting for lessonloop's worker

    def ours(self, ref: ItemRef) -> list[tuple[str, markers.Marker]]:
        """(comment id, marker) of every comment or note of lessonloop's on ``ref``."""
        found = []
        for comment in self.comments(ref):
            marker = markers.find(comment.get("body") or comment.get("content") or "")
            if marker:
                found.append((str(comment["id"]), marker[0]))
        return found

    def wait_for(
        self, refs: Sequence[ItemRef], before: dict[ItemRef, set[str]], wanted: Callable[[markers.Marker], bool]
    ) -> dict[ItemRef, markers.Marker]:
        """Until every ref carries a new comment of lessonloop's that ``wanted`` accepts."""
        deadline = time.monotonic() + self.wait_seconds
        seen: dict[ItemRef, markers.Marker] = {}
        while True:
            for ref in refs:
                if ref not in seen:
                    new = [m for cid, m in self.ours(ref) if cid not in before[ref] and wanted(m)]
                    if new:
                        seen[ref] = new[-1]
            if len(seen) == len(refs):
                return seen
            if time.monotonic() > deadline:
                missing = ", ".join(str(ref) for ref in refs if ref not in seen)
                raise Stop(
                    f"lessonloop wrote nothing on {missing} within {self.wait_seconds:g} s: "
                    "see its log (the worker's `delivery handled` line says why)"
                )
            time.sleep(0.05)

    def lesson_digests(self, ref: ItemRef) -> set[str]:
        """The digests of lessonloop's lesson comments on ``ref``: they change when one is edited."""
        return {m.get("digest") or "" for _, m in self.ours(ref) if m.kind == markers.LESSON}

    def wait_for_edit(self, ref: ItemRef, digests: set[str]) -> None:
        deadline = time.monotonic() + self.wait_seconds
        while self.lesson_digests(ref) <= digests:
            if time.monotonic() > deadline:
                raise Stop(f"lessonloop edited no lesson comment on {ref} within {self.wait_seconds:g} s")
            time.sleep(0.05)

    def snapshot(self, refs: Sequence[ItemRef]) -> dict[ItemRef, set[str]]:
        return {ref: {cid for cid, _ in self.ours(ref)} for ref in refs}


def _double_url(option: str | None, source: str) -> str:
    value = option or os.environ.get(URL_ENV[source]) or str(DEFAULT_PORTS[source])
    if value.isdigit():
        return f"http://127.0.0.1:{value}"
    return value.rstrip("/")


def _reason(error: Exception) -> str:
    text = str(error)
    if "Connection refused" in text or "NewConnectionError" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "timed out"
    return type(error).__name__


def _error_text(answer: requests.Response) -> str:
    try:
        data = answer.json()
    except ValueError:
        return f"{answer.status_code} {answer.text.strip()[:200]}"
    return f"{answer.status_code} {data.get('error') or data.get('reason') or data.get('status') or data}"


def _secret(source: str) -> str:
    value = os.environ.get(SECRET_ENV[source], "")
    if not value.strip():
        raise Stop(f"set {SECRET_ENV[source]} (the same secret lessonloop was started with)", EXIT_USAGE)
    return value.split(",")[0].strip()  # lessonloop accepts any of a comma-separated list


def _ref(text: str) -> ItemRef:
    try:
        return ItemRef.parse(text)
    except ValueError as error:
        raise Stop(str(error), EXIT_USAGE) from None


# --- the webhook each tracker would send, built as tests/loop.py builds them --------------------


def closed_delivery(walk: Walkthrough, ref: ItemRef, item: dict[str, Any]) -> tuple[payloads.Delivery, str]:
    """The delivery for ``item`` having just closed, and how to name it; ``tests/loop.py``'s
    builders run on a stand-in holding the item as the double's admin interface showed it, and
    the body is signed again with this lessonloop's secret."""
    if ref.source == "github":
        owner, repo, number = ref.github_parts
        html_url = walk.admin("GET", "github")["html_url"]
        stand_in = SimpleNamespace(issues={f"{owner}/{repo}": {number: item}}, html_url=html_url)
        built = loop.github_issue_event(stand_in, f"{owner}/{repo}", number, "closed")
        return payloads.github(built.body, _secret("github"), event="issues"), "GitHub `issues` closed"
    if ref.source == "jira":
        stand_in = SimpleNamespace(issue=lambda _key: item)
        built = loop.jira_issue_event(stand_in, ref.key)
        return payloads.jira(built.body, _secret("jira")), "Jira jira:issue_updated (status -> Done)"
    stand_in = SimpleNamespace(incidents={ref.key: item})
    built = loop.pagerduty_resolved(stand_in, ref.key)
    return payloads.pagerduty(built.body, _secret("pagerduty")), "PagerDuty incident.resolved"


def _body(ref: ItemRef, item: dict[str, Any]) -> str:
    if ref.source == "github":
        return item.get("body") or ""
    if ref.source == "jira":
        return item["fields"].get("description") or ""
    return ""


def _title(ref: ItemRef, item: dict[str, Any]) -> str:
    return item["fields"]["summary"] if ref.source == "jira" else item.get("title", "")


def _status(ref: ItemRef, item: dict[str, Any]) -> str:
    if ref.source == "github":
        return item["state"]
    if ref.source == "jira":
        return item["fields"]["status"]["name"]
    return item["status"]


def _url(walk: Walkthrough, ref: ItemRef, item: dict[str, Any]) -> str:
    if ref.source == "jira":
        return f"{walk.urls['jira']}/browse/{ref.key}"
    return item.get("html_url", "")


# --- commands -----------------------------------------------------------------------------------


def cmd_wait(walk: Walkthrough, args: argparse.Namespace) -> None:
    deadline = time.monotonic() + args.timeout
    while True:
        try:
            for source in DEFAULT_PORTS:
                walk.admin("GET", source)
            walk.ready()
            break
        except Stop as problem:
            if time.monotonic() > deadline:
                raise Stop(f"still waiting after {args.timeout:g} s: {problem}", problem.code) from None
            time.sleep(0.05)
    print(f"the doubles answer ({', '.join(walk.urls.values())}) and lessonloop is ready ({walk.lessonloop})")


def cmd_items(walk: Walkthrough, _args: argparse.Namespace) -> None:
    for source in DEFAULT_PORTS:
        for row in walk.admin("GET", source)["items"]:
            extra = (
                " ".join(f"[{label}]" for label in row.get("labels", [])) or row.get("type") or row.get("urgency", "")
            )
            print(f"{row['ref']:<28} {row['status']:<12} {row['title']}  {extra}".rstrip())


def cmd_close(walk: Walkthrough, args: argparse.Namespace) -> None:
    ref = _ref(args.ref)
    walk.admin("GET", ref.source)
    walk.ready()  # before changing anything, so a lessonloop that is down leaves the double as it was
    before = walk.snapshot(_watched(ref, walk.item(ref)))
    item = walk.admin("POST", ref.source, walk.item_path(ref) + "/close")
    print(f"closed {ref} in the {ref.source} double ({_title(ref, item)}: now {_status(ref, item)})")
    _deliver_and_wait(walk, ref, item, before)


def cmd_fill(walk: Walkthrough, args: argparse.Namespace) -> None:
    ref = _ref(args.ref)
    if ref.source == "pagerduty":
        raise Stop(
            "a PagerDuty incident cannot be a review (PagerDuty has no tasks); fill the review lessonloop "
            "opened: see the note on the incident",
            EXIT_USAGE,
        )
    walk.admin("GET", ref.source)
    walk.ready()
    item = walk.item(ref)
    body = _body(ref, item)
    if markers.find_kind(body, markers.REVIEW) is None:
        raise Stop(
            f"{ref} is not a review lessonloop opened (its body has no lessonloop:review marker); "
            "`show` the incident: lessonloop's comment there names its review",
            EXIT_USAGE,
        )
    # "What we'll change" as a list: each item a follow-up (a paragraph holds none)
    bullet = "* " if ref.source == "jira" else "- "
    items = FOLLOWUP_ITEMS if args.followups else (loop.FILLED_MARKDOWN["What we'll change"],)
    sections = loop.FILLED_MARKDOWN | {"What we'll change": "\n".join(bullet + line for line in items)}
    filled = (
        loop.fill_lesson_jira(body, sections) if ref.source == "jira" else loop.fill_lesson_markdown(body, sections)
    )
    if filled == body:
        raise Stop(f"{ref}'s body has none of the lesson's section headings; was it opened with another template?")
    before = walk.snapshot(_watched(ref, item))
    walk.admin("PUT", ref.source, walk.item_path(ref) + "/body", json={"body": filled})
    print(
        f"wrote an example lesson in the {len(loop.FILLED_MARKDOWN)} sections of {ref} "
        + (
            f"({len(FOLLOWUP_ITEMS)} follow-ups; the first links https://github.com/acme/web/issues/7)"
            if args.followups
            else "(its one follow-up, a list item, links https://github.com/acme/web/issues/7)"
        )
    )
    item = walk.admin("POST", ref.source, walk.item_path(ref) + "/close")
    print(f"closed {ref} in the {ref.source} double (now {_status(ref, item)})")
    _deliver_and_wait(walk, ref, item, before)


def _deliver_and_wait(walk: Walkthrough, ref: ItemRef, item: dict[str, Any], before: dict[ItemRef, set[str]]) -> None:
    lesson_texts = walk.lesson_digests(ref)
    delivery, what = closed_delivery(walk, ref, item)
    answer = walk.send(delivery, what)
    if answer.get("status") != "queued" or walk.wait_seconds <= 0:
        return
    if answer.get("kind") == "item_state":  # a follow-up: its state is recorded, the lesson comments edited
        if lesson_texts:
            walk.wait_for_edit(ref, lesson_texts)
        print(
            f"lessonloop recorded {ref} as a follow-up done and edited the lesson comments that list it "
            "(lessonloop followups list)"
        )
        return
    review = markers.find_kind(_body(ref, item), markers.REVIEW)
    if review is None:  # an incident: lessonloop opens its review and says so on it
        said = walk.wait_for([ref], before, lambda m: m.kind == markers.REVIEW_OPENED)[ref]
        print(
            f"lessonloop opened the review {said.get('key')} and said so on {ref} "
            f"(.venv/bin/python -m tests.walkthrough show {said.get('key')})"
        )
        return
    # a review: the lesson goes on the review and the incident (and every related item), or the
    # review gets a comment naming the sections still missing
    refs = _watched(ref, item)
    incident = refs[-1]
    said = walk.wait_for([ref], before, lambda m: m.kind in (markers.LESSON, markers.MISSING))[ref]
    if said.kind == markers.MISSING:
        raise Stop(
            f"lessonloop asked on {ref} for the sections still missing (.venv/bin/python -m tests.walkthrough show {ref})"
        )
    walk.wait_for(refs, before, lambda m: m.kind == markers.LESSON)
    print(
        f"lessonloop kept the lesson and posted it on {ref} and {incident}, and on every item it links "
        f"(.venv/bin/python -m tests.walkthrough show {incident}; lessonloop lessons show {ref})"
    )


def _indent(text: str, prefix: str) -> str:
    return "\n".join((prefix + line).rstrip() for line in text.rstrip().splitlines())


def _watched(ref: ItemRef, item: dict[str, Any]) -> list[ItemRef]:
    """Where lessonloop answers a close of ``item``: the item, and the incident when it is a review."""
    review = markers.find_kind(_body(ref, item), markers.REVIEW)
    incident = review.get("incident") if review is not None else None
    return [ref, ItemRef.parse(incident)] if incident else [ref]


def cmd_show(walk: Walkthrough, args: argparse.Namespace) -> None:
    ref = _ref(args.ref)
    item = walk.item(ref)
    if args.json:
        print(json.dumps({"item": item, "comments": walk.comments(ref)}, indent=2))
        return
    print(f"{ref}  [{_status(ref, item)}]  {_title(ref, item)}")
    if _url(walk, ref, item):
        print(f"  {_url(walk, ref, item)}")
    body = _body(ref, item)
    if body:
        print(_indent(body, "  | "))
    comments = walk.comments(ref)
    kind = "notes" if ref.source == "pagerduty" else "comments"
    print(f"{len(comments)} {kind}:" if comments else f"no {kind}")
    for comment in comments:
        author = (
            (comment.get("user") or {}).get("login")
            or (comment.get("user") or {}).get("summary")
            or (comment.get("author") or {}).get("displayName")
            or "?"
        )
        when = comment.get("created_at") or comment.get("created") or ""
        text = comment.get("body") or comment.get("content") or ""
        found = markers.find(text)
        tag = f"  <lessonloop:{found[0].kind}>" if found else ""
        print(f"- {author}, {when}{tag}")
        print(_indent(text, "    "))


# --- command line -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.walkthrough",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for source in DEFAULT_PORTS:
        parser.add_argument(
            f"--{source}",
            metavar="URL|PORT",
            help=f"the {source} double (default ${URL_ENV[source]}, else port {DEFAULT_PORTS[source]})",
        )
    parser.add_argument(
        "--lessonloop", metavar="URL", help="lessonloop (default $LESSONLOOP_URL, else http://127.0.0.1:8000)"
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="after a delivery, how long to wait for lessonloop's comment (0: do not wait; default 15)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wait = commands.add_parser("wait", help="wait until the doubles answer and lessonloop is ready")
    wait.add_argument("--timeout", type=float, default=30.0)
    wait.set_defaults(run=cmd_wait)
    commands.add_parser("items", help="every item the doubles hold").set_defaults(run=cmd_items)
    close = commands.add_parser("close", help="close an item in its double and send lessonloop the webhook")
    close.add_argument("ref", help="github:owner/repo#N, jira:KEY-N or pagerduty:ID")
    close.set_defaults(run=cmd_close)
    fill = commands.add_parser("fill", help="write an example lesson on a review, close it, send the webhook")
    fill.add_argument("ref", help="the review lessonloop opened: jira:KEY-N or github:owner/repo#N")
    fill.add_argument(
        "--followups",
        action="store_true",
        help='write "What we\'ll change" as a list of three follow-ups (the first links acme/web#7)',
    )
    fill.set_defaults(run=cmd_fill)
    show = commands.add_parser("show", help="an item and its comments or notes, markers included")
    show.add_argument("ref")
    show.add_argument("--json", action="store_true", help="as the tracker's JSON")
    show.set_defaults(run=cmd_show)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        args.run(Walkthrough(args), args)
    except Stop as stop:
        print(f"walkthrough: {stop}", file=sys.stderr)
        return stop.code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
