"""The page and the widget in a real headless browser: Debian's Chromium via Selenium (#7).

One browser serves the whole session. The outputs come from a real `aggregator run`
against partner feeds on a LocalServer; they are served from a second LocalServer
(with CORS, as `aggregator serve` does for JSON) and the partner's host pages from a
third, so the widget's fetch is a real cross-origin request. Chromium and
chromedriver are installed by `make test` (the Makefile's browser stamp); when they
cannot start, the tests fail with the reason, they are never skipped.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from .conftest import LocalServer, Response, run_cli, write_config

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
HOSTILE = '<img src=x onerror="window.__pwned=1">'
HOSTILE_CSS = """
* { color: red !important; font-size: 40px !important; letter-spacing: 4px !important;
    text-transform: uppercase !important; font-style: italic !important;
    text-align: right !important; white-space: pre !important; line-height: 3 !important;
    font-family: "Comic Sans MS", cursive !important; background: yellow !important; }
a { display: none }
li { padding: 30px !important; list-style: square !important; }
"""


@pytest.fixture(scope="session")
def chrome() -> Iterator[webdriver.Chrome]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(
            f"headless Chromium is needed for the browser tests, but {', '.join(missing)}"
            " is missing: run `make test` (it installs Debian's chromium and chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1024,900")
    try:
        driver = webdriver.Chrome(
            service=Service(executable_path=str(CHROMEDRIVER)), options=options
        )
    except WebDriverException as exc:
        pytest.fail(f"headless Chromium did not start ({CHROMIUM}, {CHROMEDRIVER}): {exc.msg}")
    try:
        yield driver
    finally:
        driver.quit()


def _atom(entries: list[tuple[str, str, str]], title: str) -> bytes:
    """A small Atom feed; titles are type="text", so markup in them is literal text."""
    body = "".join(
        f"<entry><id>urn:x:{eid}</id><title type='text'>{escape(t)}</title>"
        f"<link rel='alternate' href='{link}'/>"
        f"<updated>2026-11-{28 - n:02d}T10:00:00Z</updated>"
        f"<summary>About forced labour: {escape(t)}</summary><category term='report'/></entry>"
        for n, (eid, link, t) in enumerate(entries)
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
        f"<id>urn:x:{title}</id><title>{title}</title><updated>2026-11-28T10:00:00Z</updated>"
        f"{body}</feed>"
    ).encode()


CHILD = [f"Child labour in cocoa farms, report {n}" for n in range(1, 8)]
OTHER = ["Union congress demands an end to debt bondage", HOSTILE]
FRENCH = ["Travail forcé : un rapport sur la pêche", "Travail des enfants : nouvelle loi"]


@dataclass
class Site:
    out: Path
    output: LocalServer  # serves output/ (with CORS)
    host: LocalServer  # the partner's own site

    def base(self) -> str:
        return self.output.url("/")

    def feed(self, path: str = "") -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.out / path / "feed.json").read_text())
        return data

    def host_page(self, name: str, body: str, css: str = "") -> str:
        page = (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Partner</title>"
            f"<style>{css}</style></head><body><h1>Partner site</h1>{body}"
            "<p><a id='hostlink' href='https://partner.example/'>partner link</a></p>"
            "<ul id='hostlist'><li>partner item</li></ul></body></html>"
        )
        self.host.routes[f"/{name}"] = Response(page.encode(), content_type="text/html")
        return self.host.url(f"/{name}")

    def script(self, **data: str) -> str:
        attrs = "".join(f' data-{k}="{v}"' for k, v in data.items())
        return f'<div id="slot"><script src="{self.base()}embed.js"{attrs}></script></div>'


def _serve_folder(server: LocalServer, folder: Path) -> None:
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        rel = path.relative_to(folder).as_posix()
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix == ".json":
            kind = "application/json"
        response = Response(
            path.read_bytes(),
            content_type=f"{kind}; charset=utf-8"
            if kind.startswith(("text", "application/j"))
            else kind,
            headers={"Access-Control-Allow-Origin": "*"},
        )
        server.routes["/" + rel] = response
        if path.name == "index.html":
            server.routes["/" + rel[: -len("index.html")]] = response


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    partners, output, host = LocalServer(), LocalServer(), LocalServer()
    try:
        partners.routes["/watch.xml"] = Response(
            _atom(
                [(f"c{n}", f"https://watch.example/news/{n}", t) for n, t in enumerate(CHILD)],
                "Watch",
            ),
            content_type="application/atom+xml",
        )
        partners.routes["/union.xml"] = Response(
            _atom(
                [(f"u{n}", f"https://union.example/news/{n}", t) for n, t in enumerate(OTHER)],
                "Union",
            ),
            content_type="application/atom+xml",
        )
        partners.routes["/fr.xml"] = Response(
            _atom(
                [(f"f{n}", f"https://fr.example/news/{n}", t) for n, t in enumerate(FRENCH)],
                "Francophone",
            ),
            content_type="application/atom+xml",
        )
        tmp = tmp_path_factory.mktemp("site")
        write_config(
            tmp,
            [
                {"id": "watch", "name": "Child Labour Watch", "url": partners.url("/watch.xml"),
                 "tags": ["Child labour"]},
                {"id": "union", "name": "Workers' Union", "url": partners.url("/union.xml")},
                {"id": "francophone", "name": "Réseau francophone", "url": partners.url("/fr.xml"),
                 "tags": ["fr", "Child labour"]},
                {"id": "gone", "name": "Moved away", "url": partners.url("/missing.xml")},
            ],
            extra='subtitle = "News from the partner network"',
        )  # fmt: skip
        result = run_cli("run", cwd=tmp)
        assert result.returncode == 0, result.stderr
        out = tmp / "output"
        _serve_folder(output, out)
        yield Site(out, output, host)
    finally:
        for server in (partners, output, host):
            server.close()


SHADOW_ITEMS = """
const host = document.querySelector('#slot .aggregator-embed');
if (!host || !host.shadowRoot) return null;
const status = host.shadowRoot.querySelector('[role=status]');
if (status && status.textContent.startsWith('Loading')) return null;
return [...host.shadowRoot.querySelectorAll('li')].map(li => {
  const a = li.querySelector('.t');
  return {title: a.textContent, href: a.href || null, tag: a.tagName.toLowerCase()};
});
"""


def _widget_items(driver: webdriver.Chrome, url: str) -> list[dict[str, Any]]:
    driver.get(url)
    try:
        items: list[dict[str, Any]] = WebDriverWait(driver, 10).until(
            lambda d: d.execute_script(SHADOW_ITEMS)
        )
    except TimeoutException:
        logs = driver.execute_script("return document.documentElement.outerHTML")
        pytest.fail(f"the widget rendered nothing at {url}: {logs[:2000]}")
    return items


def test_widget_renders_the_tag_feed_in_its_shadow_root(
    chrome: webdriver.Chrome, site: Site
) -> None:
    url = site.host_page("tag.html", site.script(tag="child-labour", limit="5"))
    before = len(site.output.requests)
    items = _widget_items(chrome, url)
    tag_feed = site.feed("tags/child-labour")
    assert [i["title"] for i in items] == [i["title"] for i in tag_feed["items"][:5]]
    assert len(items) == 5 and len(tag_feed["items"]) > 5
    assert all(i["title"] in CHILD + FRENCH for i in items)
    assert [i["href"] for i in items] == [i["url"] for i in tag_feed["items"][:5]]
    fetched = [r.path for r in site.output.requests[before:]]
    assert "/tags/child-labour/feed.json" in fetched and "/feed.json" not in fetched
    # In place: right after its script element, and nothing in the light DOM.
    placed = chrome.execute_script(
        "const s = document.querySelector('#slot script');"
        "return s.nextElementSibling && s.nextElementSibling.className;"
    )
    assert placed == "aggregator-embed"
    assert chrome.execute_script("return document.querySelectorAll('#slot li').length") == 0
    more = chrome.execute_script(
        "const r = document.querySelector('#slot .aggregator-embed').shadowRoot;"
        "const a = r.querySelector('.more'); return [a.href, a.textContent];"
    )
    assert more == [site.base() + "tags/child-labour/", "More news: Test timeline: Child labour"]


PICK = """
const props = ['color', 'font-size', 'font-family', 'font-style', 'font-weight', 'display',
  'background-color', 'text-decoration-line', 'text-transform', 'letter-spacing', 'text-align',
  'white-space', 'line-height', 'padding-top', 'list-style-type', 'visibility'];
const pick = (el) => {
  const s = getComputedStyle(el);
  return props.map(p => s.getPropertyValue(p));
};
"""
STYLES = (
    PICK
    + """
const r = document.querySelector('#slot .aggregator-embed').shadowRoot;
return {box: pick(r.querySelector('.w')), title: pick(r.querySelector('.t')),
  item: pick(r.querySelector('li')), meta: pick(r.querySelector('.m')),
  more: pick(r.querySelector('.more')),
  hostlink: pick(document.getElementById('hostlink')),
  hostli: pick(document.querySelector('#hostlist li'))};
"""
)


def test_host_css_does_not_reach_the_widget_and_the_widget_css_does_not_leak(
    chrome: webdriver.Chrome, site: Site
) -> None:
    script = site.script(limit="3")
    _widget_items(chrome, site.host_page("plain.html", script))
    plain = chrome.execute_script(STYLES)
    _widget_items(chrome, site.host_page("hostile-css.html", script, HOSTILE_CSS))
    hostile = chrome.execute_script(STYLES)
    for part in ("box", "title", "item", "meta", "more"):
        assert hostile[part] == plain[part], part
    color, size, _font, _style, _weight, display = plain["title"][:6]
    assert (size, display) == ("15px", "block") and color != "rgb(255, 0, 0)"
    assert hostile["hostlink"][5] == "none"  # the host's own CSS still works on its page
    assert hostile["hostli"] != plain["hostli"]
    # Out: the host page's own elements look the same with and without the widget.
    chrome.get(site.host_page("no-widget.html", ""))
    alone = chrome.execute_script(
        PICK + "return [pick(document.getElementById('hostlink')),"
        " pick(document.querySelector('#hostlist li'))];"
    )
    assert alone == [plain["hostlink"], plain["hostli"]]


def test_hostile_titles_are_text_in_the_widget_and_on_the_page(
    chrome: webdriver.Chrome, site: Site
) -> None:
    # The feeds publish plain-text fields with tag-opening brackets defused (‹ ›), so a
    # reader that renders titles as HTML cannot be fooled either; the widget shows that.
    published = HOSTILE.replace("<", "‹").replace(">", "›")
    assert published in [i["title"] for i in site.feed()["items"]]  # it got through as text
    items = _widget_items(chrome, site.host_page("hostile.html", site.script(limit="50")))
    assert published in [i["title"] for i in items]
    assert (
        chrome.execute_script(
            "return document.querySelector('#slot .aggregator-embed')"
            ".shadowRoot.querySelectorAll('img').length"
        )
        == 0
    )
    assert chrome.execute_script("return typeof window.__pwned") == "undefined"
    chrome.get(site.base())
    titles = [h.text for h in chrome.find_elements(By.CSS_SELECTOR, "article h4")]
    assert HOSTILE in titles
    assert not chrome.find_elements(By.CSS_SELECTOR, "main img")
    assert chrome.execute_script("return typeof window.__pwned") == "undefined"


def test_widget_language_rules(chrome: webdriver.Chrome, site: Site) -> None:
    # No item says its language: data-lang uses the tags/fr/ timeline...
    items = _widget_items(chrome, site.host_page("fr.html", site.script(lang="fr")))
    assert sorted(i["title"] for i in items) == sorted(FRENCH)
    # ...intersected with data-tag when both are given.
    both = _widget_items(
        chrome, site.host_page("fr-tag.html", site.script(tag="child-labour", lang="fr"))
    )
    assert sorted(i["title"] for i in both) == sorted(FRENCH)
    # Items that carry `language` are filtered on it (else the feed's); "fr" takes "fr-CA".
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Languages",
        "language": "en",
        "items": [
            {"id": "1", "title": "English item", "url": "https://x.example/1", "language": "en"},
            {"id": "2", "title": "Article en français", "url": "https://x.example/2",
             "language": "fr"},
            {"id": "3", "title": "Article québécois", "url": "javascript:alert(1)",
             "language": "fr-CA"},
            {"id": "4", "title": "Feed language item", "url": "https://x.example/4"},
        ],
    }  # fmt: skip
    site.output.routes["/lang/feed.json"] = Response(
        json.dumps(feed).encode(),
        content_type="application/json",
        headers={"Access-Control-Allow-Origin": "*"},
    )
    site.output.routes["/lang/embed.js"] = site.output.routes["/embed.js"]
    page = site.host_page(
        "lang.html",
        f'<div id="slot"><script src="{site.output.url("/lang/embed.js")}" data-lang="fr">'
        "</script></div>",
    )
    items = _widget_items(chrome, page)
    assert [(i["title"], i["tag"]) for i in items] == [
        ("Article en français", "a"),
        ("Article québécois", "span"),  # not an http(s) link: text only
    ]


def _visible(driver: webdriver.Chrome, selector: str) -> list[WebElement]:
    return [e for e in driver.find_elements(By.CSS_SELECTOR, selector) if e.is_displayed()]


def test_page_renders_without_javascript(chrome: webdriver.Chrome, site: Site) -> None:
    chrome.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        # The switch really disables scripts (else this test could not fail).
        site.host.routes["/js.html"] = Response(
            b"<title>no js</title><script>document.title = 'js ran'</script>",
            content_type="text/html",
        )
        chrome.get(site.host.url("/js.html"))
        assert chrome.title == "no js"

        chrome.get(site.base())
        for landmark in ("header", "main", "nav", "footer"):
            assert _visible(chrome, landmark), landmark
        assert len(chrome.find_elements(By.TAG_NAME, "h1")) == 1
        months = [h.text for h in _visible(chrome, "main h2")]
        days = [h.text for h in _visible(chrome, "main h3")]
        assert months == ["November 2026"]
        assert days[:2] == ["Saturday 28 November 2026", "Friday 27 November 2026"]
        articles = _visible(chrome, "main article")
        assert len(articles) == len(site.feed()["items"])
        first = articles[0]
        assert first.find_element(By.CSS_SELECTOR, "h4 a").get_attribute("href")
        sources = first.find_element(By.CSS_SELECTOR, ".sources").text
        assert sources.startswith("Published by ")
        alternates = {
            e.get_attribute("type"): e.get_attribute("href")
            for e in chrome.find_elements(By.CSS_SELECTOR, "head link[rel=alternate]")
        }
        assert alternates == {
            "application/atom+xml": site.base() + "atom.xml",
            "application/rss+xml": site.base() + "rss.xml",
            "application/feed+json": site.base() + "feed.json",
        }
        assert _visible(chrome, "aside.health table")

        chrome.get(site.base() + "tags/child-labour/")
        assert chrome.find_element(By.TAG_NAME, "h1").text == "Child labour"
        titles = {e.text for e in _visible(chrome, "main article h4")}
        assert titles == set(CHILD + FRENCH)
        feed = chrome.find_element(By.CSS_SELECTOR, "head link[type='application/feed+json']")
        assert feed.get_attribute("href") == site.base() + "tags/child-labour/feed.json"
        chrome.get(site.base() + "tags/")
        listed = {a.text for a in _visible(chrome, "ul.taglist li > a:first-child")}
        assert {"Child labour", "fr"} <= listed  # and the classification tags
    finally:
        chrome.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})


CONTRAST = """
const rgb = (s) => s.match(/[\\d.]+/g).map(Number);
const lum = ([r, g, b]) => {
  const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
};
const background = (el) => {
  for (let e = el; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length < 4 || c[3] > 0) return c.slice(0, 3);
  }
  return [255, 255, 255];
};
const worst = {};
for (const sel of arguments[0]) {
  for (const el of document.querySelectorAll(sel)) {
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    worst[sel] = Math.min(worst[sel] || 99, ratio);
  }
}
return worst;
"""
TEXT = [
    "header .name a", "header .tagline", "nav a", "h1", ".lead", "h2", "h3", "article h4 a",
    ".meta", ".summary", ".sources", ".sources a", ".chips a", ".chips span", "aside th",
    "aside td", "aside .state", "aside li a", "footer",
]  # fmt: skip


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_page_contrast_and_heading_order(chrome: webdriver.Chrome, site: Site, scheme: str) -> None:
    chrome.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
    )
    try:
        chrome.get(site.base())
        ratios = chrome.execute_script(CONTRAST, TEXT)
    finally:
        chrome.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    assert set(ratios) == set(TEXT), set(TEXT) - set(ratios)  # every kind of text is there
    low = {sel: round(r, 2) for sel, r in ratios.items() if r < 4.5}  # WCAG 2 AA
    assert not low, low
    levels = chrome.execute_script(
        "return [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => +h.tagName[1])"
    )
    assert levels[0] == 1
    assert all(b <= a + 1 for a, b in pairwise(levels)), levels
    assert chrome.execute_script("return document.documentElement.lang") == "en"
    unnamed = chrome.execute_script(
        "return [...document.querySelectorAll('a')].filter(a => !a.textContent.trim()).length"
    )
    assert unnamed == 0
