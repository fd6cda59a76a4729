"""The learning log in a real browser: Playwright driving Debian's chromium over a real server.

Nothing is downloaded: chromium comes from the distribution (``.ci/run`` installs it) and is
launched through its path. Outside CI, a machine without it skips these tests and says why; in
CI (``CI=true``) a missing browser fails them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from config.settings import Settings
from service.entry.app import create_app
from service.infra.runtime import Runtime
from tests import example_log
from tests.browser import VIEWPORTS, chromium, screenshot_folder
from tests.conftest import RULES_TOML, serving
from tests.web_data import backdate, keep, share

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"  # tests/vendor/axe-core/README.md


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    return screenshot_folder(tmp_path)


# one store is enough for a browser: search on both stores is tested in test_search.py
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


class Console:
    """Console errors and uncaught exceptions on lessonloop's own pages (a CSP violation is one)."""

    def __init__(self, page: Any, origin: str) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda message: self._console(message, origin))
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))

    def _console(self, message: Any, origin: str) -> None:
        if message.type == "error" and (message.location.get("url") or origin).startswith(origin):
            self.errors.append(f"{message.text} at {message.location.get('url')}")


@pytest.fixture
def tracker_site() -> Iterator[str]:
    """Stands in for the trackers' web pages, so links from the log can be followed."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"<!doctype html><title>tracker</title><h1>tracker page {self.path}</h1>".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Page)) as url:
        yield url


def serve_app(settings: Settings, runtime: Runtime) -> AbstractContextManager[str]:
    """The app on ``settings`` (and ``runtime``'s store and Redis) over real HTTP."""
    app = create_app(settings, Runtime(settings, runtime.engine, runtime.redis, runtime.queue))
    return serving(make_server("127.0.0.1", 0, app, threaded=True))


def fill_log(runtime: Runtime, site: str) -> None:
    engine = runtime.engine
    for number in range(1, 31):  # a year of lessons, so that the charts have a shape
        review = keep(
            engine,
            100 + number,
            f"Routine change {number}",
            labels=("change",),
            service=("web", "api", "search")[number % 3],
            captured=number % 7 != 0,
            what_happened=f"Deploy number {number} went as planned.",
        )
        backdate(engine, review, days=12 * (31 - number), hours_to_lesson=6 + (number * 37) % 90)
    keep(
        engine,
        1,
        "Checkout slow",
        service="checkout",
        incident_url=f"{site}/incident/1",
        what_we_learned="The **resolver** cache hid timeouts until it expired.",
    )
    title_match = keep(
        engine,
        2,
        "Resolver timeouts during deploy",
        labels=("sev1", "dns"),
        service="edge",
        incident_url=f"{site}/incident/2",
        what_happened="Lookups failed for *12 minutes*.\n\n- first\n- second",
        what_we_will_change="Add a [runbook](https://runbooks.example/dns) and alert on lookups.",
    )
    share(engine, title_match, "github:acme/web#2")
    share(engine, title_match, title_match)
    share(engine, title_match, "jira:OPS-77")
    keep(
        engine,
        3,
        "Payments delayed",
        source="jira",
        tracker="jira",
        service="billing",
        incident_url=f"{site}/browse/OPS-3",
        what_happened="The queue *backed up* at {{10:02}}.",
    )
    keep(
        engine,
        4,
        "Hostile lesson <script>alert('title')</script>",
        service="edge",
        what_happened="<script>alert('section')</script><img src=x onerror=\"alert('img')\">",
        what_we_expected="[press me](javascript:alert('link')) <a href=\"#\" onclick=\"alert('click')\">x</a>",
        why_different="<svg onload=\"alert('svg')\"></svg>",
    )
    keep(
        engine,
        5,
        "Hostile Jira lesson",
        source="jira",
        tracker="jira",
        what_happened="{html}<script>alert('jira')</script>{html} [click|javascript:alert('jira-link')]",
        what_we_expected="<b onmouseover=\"alert('hover')\">bold</b>",
    )
    keep(engine, 6, "Review still open", captured=False)


def test_search_filter_open_a_lesson_follow_links_and_insights(
    browser,
    runtime: Runtime,
    settings: Settings,
    tracker_site: str,
    screenshots: Path,
) -> None:
    fill_log(runtime, tracker_site)
    with serve_app(settings, runtime) as origin:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        console = Console(page, origin)

        page.goto(origin + "/")
        assert page.url == origin + "/lessons"
        assert page.locator("table.log tbody tr").count() == 25  # a page of the log
        page.click("a[rel=next]")
        page.wait_for_url(re.compile(r".*[?&]page=2(&|$)"))  # loaded: a click does not wait for it
        assert page.locator("table.log tbody tr").count() == 6  # 31 lessons

        page.goto(origin + "/lessons")
        page.fill("input[name=q]", "resolver timeouts")
        page.click("form.filters button[type=submit]")
        page.wait_for_url(re.compile(r".*[?&]q=resolver\+timeouts(&|$)"))
        titles = page.locator("table.log a.title").all_inner_texts()
        assert titles == ["Resolver timeouts during deploy", "Checkout slow"]  # title matches first

        page.click("summary:text('Filters')")  # the filters are folded until one is set
        page.select_option("select[name=source]", "jira")
        page.fill("input[name=q]", "")
        page.click("form.filters button[type=submit]")
        page.wait_for_url(re.compile(r".*[?&]source=jira(&|$)"))
        assert sorted(page.locator("table.log a.title").all_inner_texts()) == [
            "Hostile Jira lesson",
            "Payments delayed",
        ]
        shared = page.url
        page.goto(shared)  # a search is a link
        assert page.locator("select[name=source]").input_value() == "jira"

        page.goto(origin + "/lessons?q=resolver")
        page.click("text=Resolver timeouts during deploy")
        page.wait_for_url(origin + "/lessons/github:acme/postmortems%232")
        assert page.locator("h1").inner_text() == "Resolver timeouts during deploy"
        assert page.locator("#what_happened em").inner_text() == "12 minutes"
        assert page.locator("#what_happened li").count() == 2
        runbook = page.locator("#what_we_will_change a")
        assert runbook.get_attribute("href") == "https://runbooks.example/dns"
        assert runbook.get_attribute("rel") == "noopener nofollow"
        assert page.locator("section.posted li").all_inner_texts() == [
            "github:acme/web#2",
            "github:acme/postmortems#2",
            "jira:OPS-77",
        ]
        posted = page.locator("section.posted a").evaluate_all("links => links.map(a => a.href)")
        assert posted == [tracker_site + "/incident/2", "https://x.example/r2", settings.jira.url + "/browse/OPS-77"]
        page.click("section.posted a >> nth=0")
        page.wait_for_url(tracker_site + "/incident/2")
        assert "tracker page /incident/2" in page.content()
        page.go_back()
        page.click("a.label:text('sev1')")
        page.wait_for_url(origin + "/lessons?label=sev1")
        assert page.locator("table.log a.title").all_inner_texts() == ["Resolver timeouts during deploy"]

        page.goto(origin + "/insights")
        charts = page.locator("figure.chart svg.chart")
        assert charts.count() == 4 and all(charts.nth(i).is_visible() for i in range(4))  # no follow-ups to chart
        assert page.locator("figure#chart-volume rect.s0").count() >= 1
        assert page.locator("figure#chart-volume svg.chart rect.partial").count() == 1  # this month, so far
        assert "billing" in page.locator("main").inner_text()

        assert console.errors == [] and console.dialogs == []


def test_readme_screenshots_from_an_example_log(
    browser, runtime: Runtime, settings: Settings, screenshots: Path
) -> None:
    """The README's pictures: a realistic log (``tests/example_log.py``), not the test data."""
    example_log.fill(runtime.engine)
    with serve_app(settings, runtime) as origin:
        desktop = browser.new_page(viewport=VIEWPORTS["desktop"])
        console = Console(desktop, origin)
        desktop.goto(origin + "/lessons")
        assert desktop.locator("p.count").inner_text() == f"{len(example_log.LESSONS)} lessons"
        first = desktop.locator("table.log tbody tr").first
        assert first.locator("a.title").inner_text() == example_log.LESSONS[0].title
        assert first.locator("td[data-label='Follow-ups']").inner_text() == "2 open · 1 overdue · 1 done"
        desktop.screenshot(path=str(screenshots / "lessons.png"), full_page=False)
        desktop.click(f"text={example_log.LESSONS[0].title}")
        desktop.wait_for_url(re.compile(re.escape(origin) + r"/lessons/.+"))
        assert desktop.locator("#what_happened br").count() == 4  # the timeline, one line per event
        desktop.screenshot(path=str(screenshots / "lesson.png"), full_page=True)
        desktop.goto(origin + "/insights")
        desktop.screenshot(path=str(screenshots / "insights.png"), full_page=True)

        phone = browser.new_page(viewport=VIEWPORTS["phone"])
        phone.goto(origin + "/lessons")
        assert phone.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS["phone"]["width"]
        phone.screenshot(path=str(screenshots / "lessons-phone.png"), full_page=False)
        assert console.errors == [] and console.dialogs == []


def test_hostile_lessons_render_as_text(browser, runtime: Runtime, settings: Settings, tracker_site: str) -> None:
    fill_log(runtime, tracker_site)
    with serve_app(settings, runtime) as origin:
        page = browser.new_page()
        console = Console(page, origin)
        for path in (
            "/lessons",
            "/lessons/github:acme/postmortems%234",
            "/lessons/jira:PIR-5",
            "/lessons?q=%3Cscript%3Ealert(1)%3C/script%3E",
        ):
            page.goto(origin + path)
            for anchor in page.locator("main a").all():
                href = anchor.get_attribute("href")
                if href is None:  # a link whose target the sanitiser took away is only text
                    continue
                assert re.match(r"^(https?:|mailto:|/|\?)", href), (path, href)
            assert (
                page.evaluate(
                    "document.querySelectorAll('main script, main img, main iframe, .text svg,"
                    " [onerror], [onclick], [onload], [onmouseover]').length"
                )
                == 0
            ), path
        page.goto(origin + "/lessons/github:acme/postmortems%234")
        body = page.locator("main").inner_text()
        assert "<script>alert('title')</script>" in body and "<script>alert('section')</script>" in body
        page.goto(origin + "/lessons/jira:PIR-5")
        assert "alert('jira')" in page.locator("main").inner_text()
        assert page.locator(".text a").count() == 0  # the javascript: link stayed text
        page.locator("#what_happened p").click()  # and clicking it runs nothing
        page.hover("text=bold")  # and hovering neither
        assert console.dialogs == [] and console.errors == []


def test_sign_in_through_a_proxy(
    browser,
    runtime: Runtime,
    make_settings: Callable[..., Settings],
    trackers: dict[str, str],
    tracker_site: str,
    screenshots: Path,
) -> None:
    fill_log(runtime, tracker_site)
    settings = make_settings(**trackers, LESSONLOOP_AUTH="proxy", LESSONLOOP_AUTH_PROXY_HEADER="X-Forwarded-Email")
    with serve_app(settings, runtime) as origin:
        anonymous = browser.new_context()
        page = anonymous.new_page()
        response = page.goto(origin + "/lessons?q=resolver")
        assert response.status == 401 and page.url.startswith(origin + "/signin?next=")
        assert "X-Forwarded-Email" in page.locator("main").inner_text()
        assert axe_violations(page, axe_source()) == []  # the sign-in page is a page too
        anonymous.close()

        signed = browser.new_context(extra_http_headers={"X-Forwarded-Email": "ana@acme.example"})
        page = signed.new_page()
        console = Console(page, origin)
        page.goto(origin + "/lessons?q=resolver")
        assert page.url == origin + "/lessons?q=resolver"
        assert "ana@acme.example" in page.locator("header").inner_text()
        assert page.locator("table.log a.title").first.inner_text() == "Resolver timeouts during deploy"
        assert console.errors == []
        signed.close()


def test_sign_in_with_openid_connect(
    browser,
    runtime: Runtime,
    make_settings: Callable[..., Settings],
    trackers: dict[str, str],
    tracker_site: str,
    tmp_path: Path,
) -> None:
    from oidc_provider_mock import User, run_server_in_thread

    fill_log(runtime, tracker_site)
    config = tmp_path / "lessonloop.toml"
    config.write_text(RULES_TOML + '[web]\nallowed_email_domains = ["acme.example"]\n')
    verified = User(sub="ana@acme.example", claims={"email": "ana@acme.example", "email_verified": True})
    unverified = User(sub="bob@acme.example", claims={"email": "bob@acme.example"})
    with run_server_in_thread(user_claims=[verified, unverified]) as provider:
        issuer = f"http://localhost:{provider.server_port}"
        settings = make_settings(
            config_file=config,
            **trackers,
            LESSONLOOP_AUTH="oidc",
            LESSONLOOP_OIDC_ISSUER=issuer,
            LESSONLOOP_OIDC_CLIENT_ID="lessonloop",
            LESSONLOOP_OIDC_CLIENT_SECRET="oidc-client-secret-1234567890",
        )
        with serve_app(settings, runtime) as origin:
            context = browser.new_context()
            page = context.new_page()
            console = Console(page, origin)
            page.goto(origin + "/lessons?q=resolver")
            assert page.url.startswith(issuer)  # the provider's sign-in form
            page.fill("input[name=sub]", "ana@acme.example")
            page.click("button:text('Authorize')")
            page.wait_for_url(origin + "/lessons?q=resolver")
            assert "ana@acme.example" in page.locator("header").inner_text()
            assert page.locator("table.log a.title").first.inner_text() == "Resolver timeouts during deploy"
            cookie = next(c for c in context.cookies() if c["name"] == "lessonloop_session")
            assert cookie["httpOnly"] and "oidc-client-secret" not in page.content()
            assert context.request.get(origin + "/api/v1/lessons").status == 200  # the session works for the API

            page.click("button:text('Sign out')")
            page.wait_for_url(origin + "/signout")
            assert "signed out" in page.locator("main").inner_text()
            assert context.request.get(origin + "/api/v1/lessons").status == 401
            assert console.errors == []
            context.close()

            # a provider that does not vouch for the address (no email_verified: true): refused
            context = browser.new_context()
            page = context.new_page()
            page.goto(origin + "/lessons")
            page.fill("input[name=sub]", "bob@acme.example")
            page.click("button:text('Authorize')")
            page.wait_for_url(origin + "/signin/callback*")
            assert context.request.get(origin + "/api/v1/lessons").status == 401
            context.close()

            stranger = browser.new_context()
            page = stranger.new_page()
            page.goto(origin + "/insights")
            page.fill("input[name=sub]", "eve@elsewhere.example")
            page.click("button:text('Authorize')")
            page.wait_for_url(re.compile(re.escape(origin) + r"/signin/callback.*"))
            assert "may not read the learning log" in page.locator("main").inner_text()
            assert stranger.request.get(origin + "/api/v1/lessons").status == 401
            stranger.close()


def axe_source() -> str:
    source = AXE.read_bytes()
    assert hashlib.sha256(source).hexdigest() == AXE_SHA256, f"{AXE} is not the axe-core the README names"
    return source.decode()


def axe_violations(page: Any, source: str) -> list[str]:
    """axe-core's serious and critical findings on the page, one line each. axe is evaluated
    through the DevTools protocol, which the page's CSP does not govern, so the page is tested
    with its CSP on."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(source)
    results = page.evaluate(
        """() => axe.run(document, {runOnly: {type: 'tag', values:
             ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}})"""
    )
    return [
        f"{one['id']} ({one['impact']}): {[node['target'] for node in one['nodes']][:3]}"
        for one in results["violations"]
        if one["impact"] in ("serious", "critical")
    ]


# the contrast of each input's, select's and button's border with what is behind it (WCAG 1.4.11)
FIELD_CONTRAST = """() => {
  const rgb = (text) => text.match(/[0-9.]+/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((c) => { c /= 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
  const behind = (el) => { for (let e = el.parentElement; e; e = e.parentElement) {
    const bg = getComputedStyle(e).backgroundColor; if (!bg.startsWith('rgba(0, 0, 0, 0)') && bg !== 'transparent') return bg; }
    return getComputedStyle(document.body).backgroundColor; };
  return [...document.querySelectorAll('main input:not([type=checkbox]), main select')].map((el) => {
    const [a, b] = [lum(rgb(getComputedStyle(el).borderTopColor)), lum(rgb(behind(el)))];
    return [el.name, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)];
  });
}"""


PAGES = {
    "log": "/lessons",
    "search": "/lessons?q=resolver&source=github",
    "no match": "/lessons?q=nomatchword",
    "lesson": "/lessons/github:acme/postmortems%232",
    "hostile lesson": "/lessons/github:acme/postmortems%234",
    "insights": "/insights",
    "insights of a service": "/insights?service=edge&service=web&label=sev1",
    "not found": "/lessons/jira:NOPE-1",
    "bad filter": "/lessons?from=2026-13-01",
}


def keep_long_lesson(runtime: Runtime) -> str:
    """A lesson that tries every way text can break a narrow page or read unlike its tracker;
    returns its page's path."""
    ref = keep(
        runtime.engine,
        90,
        "A lesson with " + "averyveryverylongwordwithoutanybreak" * 3,
        service="edge",
        labels=("sev2",),
        what_happened="10:02 alert fired\n10:05 paged\n\n# Summary\nLike OPS-3 and github:acme/web#2.\n\n"
        "https://logs.example/" + "a" * 300 + "\n\n- [ ] add the alert\n- [x] roll back\n\n"
        "![the graph](https://img.example/graph.png)\n\n```\n"
        + "x" * 300
        + "\n```\n\n| a | b |\n|---|---|\n| "
        + "c" * 200
        + " | d |",
    )
    return "/lessons/" + ref.replace("#", "%23")


@pytest.mark.parametrize(("size", "scheme"), [(size, scheme) for size in VIEWPORTS for scheme in ("light", "dark")])
def test_every_page_fits_a_phone_reads_in_dark_and_passes_axe(
    browser, runtime: Runtime, settings: Settings, tracker_site: str, screenshots: Path, size: str, scheme: str
) -> None:
    """Every page at 1280x800 and 390x844, light and dark (one test each, so that each stays
    short on a loaded machine): no sideways scrolling, no serious or critical axe-core finding,
    input borders at 3:1, chart text readable, a skip link first."""
    source = axe_source()
    if scheme == "light":
        with serve_app(settings, runtime) as origin:  # before any lesson exists
            visits = [
                (name, path, size, scheme)
                for name, path in (("empty log", "/lessons"), ("empty insights", "/insights"))
            ]
            _visit_all(browser, origin, visits, source, screenshots)

    fill_log(runtime, tracker_site)
    pages = PAGES | {"long lesson": keep_long_lesson(runtime)}
    with serve_app(settings, runtime) as origin:  # a new app: the insights it caches are of the full log
        _visit_all(browser, origin, [(name, path, size, scheme) for name, path in pages.items()], source, screenshots)


def test_a_long_lesson_reads_as_its_tracker_shows_it_and_the_keyboard_skips_to_it(
    browser, runtime: Runtime, settings: Settings, tracker_site: str
) -> None:
    """On a phone: refs linked to the log's own pages, a timeline one line per event, a heading
    placed below the section's, checkboxes, an image as a link; the first Tab reaches the skip
    link, which moves focus to the page's main part; the filters fold unless one is set."""
    fill_log(runtime, tracker_site)
    pages = {"long lesson": keep_long_lesson(runtime)}
    with serve_app(settings, runtime) as origin:
        context = browser.new_context(viewport=VIEWPORTS["phone"])
        page = context.new_page()
        page.goto(origin + pages["long lesson"])
        assert page.locator("#what_happened a:text('OPS-3')").get_attribute("href") == "/lessons/jira:OPS-3"
        assert (
            page.locator("#what_happened a:text('github:acme/web#2')").get_attribute("href")
            == "/lessons/github:acme/web%232"
        )
        assert (
            page.locator("#what_happened br").count() >= 1
            and page.locator("#what_happened h3").inner_text() == "Summary"
        )
        assert page.locator("#what_happened input[type=checkbox][disabled]").count() == 2
        assert (
            page.locator("#what_happened a:text('Image: the graph')").get_attribute("href")
            == "https://img.example/graph.png"
        )
        assert page.locator("h1").count() == 1 and page.locator("img").count() == 0

        # the keyboard: the first Tab reaches the skip link, which is visible when focused and moves focus to main
        page.goto(origin + "/lessons")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip"
        assert (
            page.locator("a.skip").is_visible()
            and page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
        )
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
        page.keyboard.press("Tab")  # the next stop is inside main, not the header again
        assert page.evaluate("document.querySelector('main').contains(document.activeElement)")
        assert page.locator("details:has(summary:text('Filters'))").get_attribute("open") is None
        page.goto(origin + "/lessons?label=sev1")
        assert (
            page.locator("details:has(summary:text('Filters'))").get_attribute("open") == ""
        )  # a filter set shows them
        context.close()


def test_insights_on_a_phone_choose_a_view_and_download_its_numbers(
    browser, runtime: Runtime, settings: Settings, tracker_site: str
) -> None:
    """390 px wide, dark: the view's form works without script, a service's name leads to its
    view, every table's numbers download as CSV, and nothing scrolls sideways."""
    fill_log(runtime, tracker_site)
    with serve_app(settings, runtime) as origin:
        context = browser.new_context(viewport=VIEWPORTS["phone"], color_scheme="dark", java_script_enabled=False)
        page = context.new_page()
        page.goto(origin + "/insights")
        page.fill("input[name=service]", "web")
        page.click("form.filters button[type=submit]")
        page.wait_for_url(re.compile(r".*/insights\?.*service=web(&|$)"))
        assert "service web" in page.locator("p#view").inner_text()
        assert page.locator("#reviews strong").first.inner_text() == "10"  # the web service's reviews of 30
        assert page.locator("input[name=service]").input_value() == "web"

        page.goto(origin + "/insights")
        page.click("#table-services a:text-is('search')")
        page.wait_for_url(re.compile(r".*/insights\?service=search$"))
        assert "service search" in page.locator("p#view").inner_text()
        for link in page.locator("p.download a").all():
            href = link.get_attribute("href")
            assert link.get_attribute("download") is not None and "service=search" in href
            answer = context.request.get(origin + href)
            assert answer.status == 200 and answer.headers["content-type"] == "text/csv; charset=utf-8"
        wide = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert wide[0] <= wide[1], wide
        context.close()


def _visit_all(
    browser: Any, origin: str, visits: list[tuple[str, str, str, str]], source: str, screenshots: Path
) -> None:
    contexts: dict[tuple[str, str], Any] = {}
    problems: list[str] = []
    for name, path, size, scheme in visits:
        if (size, scheme) not in contexts:
            context = browser.new_context(viewport=VIEWPORTS[size], color_scheme=scheme)
            page = context.new_page()
            contexts[size, scheme] = (context, page, Console(page, origin))
        _, page, console = contexts[size, scheme]
        status = page.goto(origin + path).status
        where = f"{name} ({path}) at {size}, {scheme}"
        if "insights" in name:  # the numbers' tables too, folded by default
            page.evaluate("document.querySelectorAll('details').forEach((one) => { one.open = true; })")
        wide = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if wide[0] > wide[1]:
            problems.append(f"{where}: {wide[0]} px wide in a {wide[1]} px window")
        problems.extend(f"{where}: {finding}" for finding in axe_violations(page, source))
        problems.extend(
            f"{where}: field {field} border {ratio:.2f}:1"
            for field, ratio in page.evaluate(FIELD_CONTRAST)
            if ratio < 3
        )
        if name == "empty insights" and not page.locator("#nothing").is_visible():
            problems.append(f"{where}: no word on why there is nothing to show")
        if "insights" in name and name != "empty insights":
            sizes = page.locator("svg.chart text.axis").evaluate_all(
                """texts => texts.filter(t => getComputedStyle(t).display !== 'none').map(t => {
                     const svg = t.ownerSVGElement;  // the chart's units, scaled to the width it is drawn at
                     return parseFloat(getComputedStyle(t).fontSize) * svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
                   })"""
            )
            if not sizes or min(sizes) < 10:
                problems.append(f"{where}: chart text drawn at {min(sizes, default=0):.1f} px")
            if name == "insights" and page.locator("figure#chart-volume rect.b1[fill^='url(#']").count() == 0:
                problems.append(f"{where}: the second bar series is not hatched")
            if name == "insights" and page.locator("figure#chart-speed rect.marker").count() == 0:
                problems.append(f"{where}: the second line has no marker of its own")
        page.screenshot(path=str(screenshots / f"{re.sub(r'[^a-z]+', '-', name)}-{size}-{scheme}.png"), full_page=True)
        answered = f"the server responded with a status of {status}"  # chromium's line for an error page
        problems.extend(f"{where}: {error}" for error in console.errors if status < 400 or answered not in error)
        console.errors.clear()
    for context, _, _ in contexts.values():
        context.close()
    assert not problems, "\n".join(problems)
