"""The HTML renderer: escaping, UTC month/day grouping, provenance, tag pages, health (#7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urljoin

from lxml import html as lxml_html

from aggregator.config import Settings, Source
from aggregator.models import Item, Provenance, SourceState, Validators
from aggregator.publish import RENDERERS, Snapshot, publish
from aggregator.publish.common import Timeline
from aggregator.publish.html import (
    EMBED_NAME,
    embed_script,
    group_by_day,
    health_summary,
    render_pages,
    safe_url,
    summary_text,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
HOSTILE = '<img src=x onerror="window.__pwned=1">'


def _settings(tmp_path: Path | None = None) -> Settings:
    return Settings(
        title="Forced Labour News",
        subtitle="From the partner network",
        public_url="https://news.example.org/fl/",
        output_dir=(tmp_path or Path("/nonexistent")) / "output",
        database="sqlite://",
    )


def _source(sid: str, name: str) -> Provenance:
    return Provenance(
        source_id=sid,
        source_name=name,
        source_url=f"https://{sid}.example/feed.xml",
        home_page=f"https://{sid}.example/",
        link=f"https://{sid}.example/news/1",
        published=NOW,
    )


def item(
    n: int,
    published: datetime,
    *,
    title: str = "",
    summary: str = "<p>About forced labour.</p>",
    tags: tuple[str, ...] = (),
    sources: tuple[Provenance, ...] | None = None,
    link: str | None = "https://origin.example/news/{n}",
) -> Item:
    return Item(
        id=f"tag:news.example.org,2026:story/{n}",
        title=title or f"Story {n}",
        link=link.format(n=n) if link else None,
        summary_html=summary,
        content_html="",
        author=None,
        published=published,
        updated=published,
        tags=tags,
        sources=sources or (_source("origin", "Origin partner"),),
    )


def render(snapshot: Snapshot) -> dict[str, str]:
    return {path: data.decode("utf-8") for path, data in render_pages(snapshot)}


def tree(text: str) -> lxml_html.HtmlElement:
    return lxml_html.fromstring(text)


def test_item_text_is_escaped_and_summaries_are_plain_text() -> None:
    hostile = item(
        1,
        NOW,
        title=HOSTILE,
        summary="<p>Debt &amp; <b>bondage</b></p><script>alert(1)</script>",
        tags=("<b>tag</b>",),
        sources=(
            Provenance(
                "evil",
                'Evil "partner" <script>',
                "https://evil.example/feed",
                None,
                "javascript:alert(1)",
                NOW,
            ),
        ),
        link="javascript:alert({n})",
    )
    snapshot = Snapshot(settings=_settings(), sources=(), main=Timeline(items=[hostile]))
    page = render(snapshot)["index.html"]
    assert HOSTILE not in page
    assert "&lt;img src=x onerror=&#34;window.__pwned=1&#34;&gt;" in page
    assert "<script" not in page and "<img" not in page and "<b>" not in page
    assert "javascript:" not in page
    doc = tree(page)
    article = doc.find(".//article")
    assert article.findtext("h4") == HOSTILE  # shown as text, not as a link
    assert article.find("h4/a") is None
    assert article.find_class("summary")[0].text_content() == "Debt & bondage"
    assert 'Evil "partner" <script>' in article.find_class("sources")[0].text_content()
    assert not article.find_class("sources")[0].findall(".//a")


def test_grouped_by_utc_month_and_day_newest_first() -> None:
    minus5 = timezone(timedelta(hours=-5))
    items = [
        # 1 Nov 23:30 at UTC-5 is 2 Nov 04:30 UTC.
        item(1, datetime(2026, 11, 1, 23, 30, tzinfo=minus5)),
        item(2, datetime(2026, 11, 1, 0, 5, tzinfo=UTC)),
        item(3, datetime(2026, 10, 31, 23, 59, tzinfo=UTC)),
        item(4, datetime(2026, 10, 31, 8, 0, tzinfo=UTC)),
        item(5, datetime(2025, 12, 24, tzinfo=UTC)),
    ]
    months = group_by_day(items)
    assert [m.heading for m in months] == ["November 2026", "October 2026", "December 2025"]
    assert [[d.date for d in m.days] for m in months] == [
        ["2026-11-02", "2026-11-01"],
        ["2026-10-31"],
        ["2025-12-24"],
    ]
    assert months[0].days[0].heading == "Monday 2 November 2026"
    assert [i.title for i in months[1].days[0].items] == ["Story 3", "Story 4"]
    assert months[0].days[0].items[0].published == "2026-11-02T04:30:00Z"

    page = render(Snapshot(settings=_settings(), sources=(), main=Timeline(items=items)))
    doc = tree(page["index.html"])
    headings = [(h.tag, h.text_content()) for h in doc.iter("h1", "h2", "h3")]
    assert headings[0] == ("h1", "Forced Labour News")
    assert [h for h in headings if h[0] in ("h2", "h3")][:4] == [
        ("h2", "November 2026"),
        ("h3", "Monday 2 November 2026"),
        ("h3", "Sunday 1 November 2026"),
        ("h2", "October 2026"),
    ]
    assert len(doc.findall(".//h1")) == 1
    assert len(doc.findall(".//article")) == 5
    # A date-only source (midnight) shows no time; others show the UTC time.
    times = [t.text for t in doc.iterfind(".//article/p[@class='meta']/time")]
    assert times[0] == "2 November 2026, 04:30 UTC"
    assert times[-1] == "24 December 2025"


def test_provenance_lists_every_partner_original_first_with_links() -> None:
    merged = item(
        1,
        NOW,
        sources=(
            _source("alliance", "Sample Alliance"),
            _source("union", "Workers' Union"),
            Provenance("paper", "Research Centre", "https://paper.example/f", None, None, NOW),
        ),
    )
    page = render(Snapshot(settings=_settings(), sources=(), main=Timeline(items=[merged])))
    line = tree(page["index.html"]).find_class("sources")[0]
    assert line.text_content() == (
        "Published by Sample Alliance; also carried by Workers' Union, Research Centre."
    )
    links = [(a.text, a.get("href")) for a in line.iter("a")]
    assert links == [
        ("Sample Alliance", "https://alliance.example/news/1"),
        ("Workers' Union", "https://union.example/news/1"),
    ]


def test_tag_pages_tags_index_and_autodiscovery() -> None:
    child = item(1, NOW, tags=("Child labour", "child-labour", "cocoa"))
    other = item(2, NOW - timedelta(days=1), tags=("Trade unions",))
    snapshot = Snapshot(
        settings=_settings(),
        sources=(),
        main=Timeline(items=[child, other]),
        tags=(
            Timeline(items=[other], slug="trade-unions", label="Trade unions"),
            Timeline(items=[child], slug="child-labour", label="Child labour"),
        ),
    )
    pages = render(snapshot)
    assert set(pages) == {
        "index.html",
        "tags/index.html",
        "tags/child-labour/index.html",
        "tags/trade-unions/index.html",
    }
    site = "https://news.example.org/fl/"
    for path, folder in (
        ("index.html", ""),
        ("tags/child-labour/index.html", "tags/child-labour/"),
    ):
        doc = tree(pages[path])
        alternates = {
            link.get("type"): urljoin(site + path, link.get("href"))
            for link in doc.iterfind(".//head/link[@rel='alternate']")
        }
        assert alternates == {
            "application/atom+xml": f"{site}{folder}atom.xml",
            "application/rss+xml": f"{site}{folder}rss.xml",
            "application/feed+json": f"{site}{folder}feed.json",
        }
    tag_page = tree(pages["tags/child-labour/index.html"])
    assert tag_page.findtext(".//h1") == "Child labour"
    assert [a.text for a in tag_page.iterfind(".//article/h4/a")] == ["Story 1"]
    assert tag_page.findtext(".//title") == "Child labour — Forced Labour News"
    current = tag_page.find(".//nav[@aria-label='Tags']//a[@aria-current='page']")
    assert current.text == "Child labour"
    # An item's tags appear once per slug; those with a page link to it, relatively.
    chips = [
        (c.text_content(), c.get("href")) for c in tag_page.iterfind(".//ul[@class='chips']/li/*")
    ]
    assert chips == [("Child labour", "../../tags/child-labour/"), ("cocoa", None)]
    index = tree(pages["tags/index.html"])
    listed = [a.text for a in index.iterfind(".//ul[@class='taglist']/li/a[1]")]
    assert listed == ["Child labour", "Trade unions"]
    assert index.find(".//ul[@class='taglist']/li/a").get("href") == "../tags/child-labour/"


def test_health_summary_counts_and_attention() -> None:
    sources = (
        Source(id="ok", name="Fine partner", url="https://ok.example/feed"),
        Source(id="bad", name="Broken <partner>", url="https://bad.example/feed"),
        Source(id="off", name="Off", url="https://off.example/feed", enabled=False),
        Source(id="new", name="Newcomer", url="https://new.example/feed"),
    )
    checked = NOW - timedelta(hours=1)
    states = {
        "ok": SourceState(
            "ok", "https://ok.example/feed", Validators(), last_checked_at=checked,
            last_new_at=NOW - timedelta(days=1),
        ),
        "bad": SourceState(
            "bad", "https://bad.example/feed", Validators(), last_checked_at=checked,
            consecutive_failures=3, last_error_kind="timeout", last_error="no data for 20s",
            last_new_at=NOW - timedelta(days=1),
        ),
    }  # fmt: skip
    summary = health_summary(sources, states, NOW)
    counts = dict(summary.counts)
    assert (summary.total, counts["ok"], counts["failing"], counts["disabled"], counts["new"]) == (
        4,
        1,
        1,
        1,
        1,
    )
    assert [(a.name, a.state, a.reason) for a in summary.attention] == [
        ("Broken <partner>", "failing", "the last fetch failed (timeout)")
    ]
    snapshot = Snapshot(
        settings=_settings(), sources=sources, main=Timeline(items=[]), states=states, now=NOW
    )
    page = render(snapshot)["index.html"]
    aside = tree(page).find(".//aside")
    assert aside.findtext("h2") == "Source health"
    rows = {r.findtext("th"): r.findtext("td") for r in aside.iterfind(".//tbody/tr")}
    assert rows["failing"] == "1" and rows["ok"] == "1" and rows["gone"] == "0"
    assert "Broken &lt;partner&gt;" in page
    assert aside.find(".//ul[@class='attention']/li/a").get("href") == "https://bad.example/feed"
    assert "No news yet." in page


def test_pages_are_stable_and_need_no_script(tmp_path: Path) -> None:
    snapshot = Snapshot(
        settings=_settings(tmp_path),
        sources=(),
        main=Timeline(items=[item(1, NOW), item(2, NOW - timedelta(days=40))]),
        now=NOW,
    )
    first = publish(snapshot)
    assert {"index.html", "tags/index.html", EMBED_NAME} <= set(first.written)
    again = publish(snapshot)
    assert not again.written  # byte-identical: nothing rewritten
    page = (tmp_path / "output" / "index.html").read_text()
    assert "<script" not in page.lower()
    assert "script-src" not in page and "default-src 'none'" in page  # CSP forbids scripts
    assert (tmp_path / "output" / EMBED_NAME).read_bytes() == embed_script()
    assert any(r.__name__ == "render_pages" for r in RENDERERS)


def test_embed_script_is_small_and_never_inserts_html() -> None:
    source = embed_script().decode("utf-8")
    assert len(embed_script()) < 8 * 1024
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source, sink
    assert "attachShadow" in source and "textContent" in source


def test_safe_url_and_summary_text() -> None:
    assert safe_url("https://a.example/x") == "https://a.example/x"
    assert safe_url("HTTP://a.example/") == "HTTP://a.example/"
    for bad in ("javascript:alert(1)", "data:text/html,x", "//a.example/", "/x", "", None):
        assert safe_url(bad) is None, bad
    long = item(1, NOW, summary="<p>" + "word " * 100 + "</p>")
    text = summary_text(long, limit=50)
    assert text.endswith("…") and len(text) <= 51 and "  " not in text
