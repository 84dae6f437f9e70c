"""Merge stage: entries -> stories with stable tag: ids, a primary and provenance."""

from __future__ import annotations

import dataclasses
import random
import re
from datetime import UTC, datetime, timedelta

from aggregator.config import Source
from aggregator.merge import build_item, build_items, plan_assignments, seed_of, story_uri
from aggregator.models import StoredEntry

AUTHORITY = "news.example.org,2026"
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
URI_RE = re.compile(r"^tag:news\.example\.org,2026:story/[0-9a-f]+$")

SOURCES = {
    "alliance": Source(
        id="alliance",
        name="Alliance Against Forced Labour",
        url="https://alliance.example/feed/",
        home_page="https://www.alliance.example/",
        tags=("network", "un"),
    ),
    "union": Source(
        id="union",
        name="Fair Harvest Workers' Union",
        url="https://union.example/feed.atom",
        home_page="https://union.example/",
        tags=("trade-union", "network"),
    ),
    "watch": Source(
        id="watch",
        name="Child Labour Watch",
        url="https://feeds.watch.example/news.json",
        tags=("child-labour",),
    ),
}

_pk = iter(range(1, 10_000))


def stored(
    source_id: str,
    key: str,
    link: str | None,
    canonical: str | None,
    published: datetime,
    *,
    title: str = "A story",
    tags: tuple[str, ...] = (),
    story: str | None = None,
    modified_at: datetime | None = None,
    claimed_updated: datetime | None = None,
    pk: int | None = None,
) -> StoredEntry:
    return StoredEntry(
        pk=pk if pk is not None else next(_pk),
        source_id=source_id,
        key=key,
        link=link,
        canonical_url=canonical,
        title=title,
        summary_html=f"<p>{title}</p>",
        content_html="",
        author=None,
        tags=tags,
        published_at=published,
        first_seen_at=published,
        last_seen_at=published + timedelta(days=1),
        modified_at=modified_at,
        claimed_updated=claimed_updated,
        story_uri=story,
    )


def _uris(plan: list[tuple[int, str, str]]) -> dict[int, str]:
    return {pk: uri for pk, uri, _seed in plan}


# --- plan_assignments ---


def test_same_canonical_url_from_two_sources_is_one_story() -> None:
    url = "https://alliance.example/news/fees"
    a = stored("alliance", f"link:{url}", url, url, T0)
    b = stored("union", "guid:u-1", url + "?utm_source=union", url, T0 + timedelta(hours=2))
    uris = _uris(plan_assignments([a, b], {}, AUTHORITY))
    assert uris[a.pk] == uris[b.pk]
    assert URI_RE.match(uris[a.pk]), uris[a.pk]


def test_different_urls_are_different_stories() -> None:
    a = stored("alliance", "guid:1", "https://a.example/1", "https://a.example/1", T0)
    b = stored("alliance", "guid:2", "https://a.example/2", "https://a.example/2", T0)
    uris = _uris(plan_assignments([a, b], {}, AUTHORITY))
    assert uris[a.pk] != uris[b.pk]
    assert all(URI_RE.match(u) for u in uris.values())


def test_a_known_canonical_url_gets_the_known_story() -> None:
    url = "https://alliance.example/news/fees"
    known = {url: "tag:news.example.org,2026:story/0123456789abcdef0123"}
    late = stored("watch", "guid:w-9", url + "#findings", url, T0 + timedelta(days=5))
    fresh = stored("watch", "guid:w-10", "https://w.example/n", "https://w.example/n", T0)
    plan = plan_assignments([late, fresh], known, AUTHORITY)
    uris = _uris(plan)
    assert uris[late.pk] == known[url]
    assert uris[fresh.pk] != known[url]
    assert len(plan) == 2


def test_a_known_seed_gets_the_known_story() -> None:
    entry = stored("watch", "h1:abc", None, None, T0)
    known = {"watch h1:abc": "tag:news.example.org,2026:story/feedfacefeedfacefeed"}
    assert _uris(plan_assignments([entry], known, AUTHORITY)) == {entry.pk: known["watch h1:abc"]}


def test_story_uris_are_deterministic_whatever_the_input_order() -> None:
    shared = "https://alliance.example/news/shared"
    entries = [
        stored("alliance", "guid:a", shared, shared, T0 + timedelta(hours=1)),
        stored("union", "guid:u", shared + "?fbclid=1", shared, T0),
        stored("watch", "guid:w", shared + "#x", shared, T0 + timedelta(hours=3)),
        stored("union", "guid:u2", "https://union.example/2", "https://union.example/2", T0),
        stored("watch", "h1:00ff", None, None, T0 + timedelta(minutes=5)),
        stored("alliance", "h1:00ff", None, None, T0 + timedelta(minutes=5)),
    ]
    expected = plan_assignments(entries, {}, AUTHORITY)
    for seed in range(5):
        shuffled = list(entries)
        random.Random(seed).shuffle(shuffled)
        again = plan_assignments(shuffled, {}, AUTHORITY)
        assert _uris(again) == _uris(expected)
        assert sorted(again) == sorted(expected)
    # and a second, independent run mints the same ids from the same data
    rebuilt = [dataclasses.replace(e, pk=e.pk) for e in reversed(entries)]
    assert _uris(plan_assignments(rebuilt, {}, AUTHORITY)) == _uris(expected)
    assert len(set(_uris(expected).values())) == 4


def test_the_story_seed_is_the_earliest_members_canonical_url() -> None:
    shared = "https://alliance.example/news/shared"
    early = stored("union", "guid:u", shared + "?utm_source=x", shared, T0)
    late = stored("alliance", "guid:a", shared, shared, T0 + timedelta(hours=1))
    plan = plan_assignments([late, early], {}, AUTHORITY)
    assert plan[0] == (early.pk, story_uri(shared, AUTHORITY), shared)
    assert {uri for _, uri, _ in plan} == {story_uri(shared, AUTHORITY)}


def test_entries_without_a_link_are_seeded_by_source_and_key() -> None:
    a = stored("alliance", "h1:deadbeef", None, None, T0)
    b = stored("watch", "h1:deadbeef", None, None, T0)
    assert seed_of(a) == "alliance h1:deadbeef"
    plan = plan_assignments([a, b], {}, AUTHORITY)
    seeds = {pk: seed for pk, _uri, seed in plan}
    uris = _uris(plan)
    assert seeds == {a.pk: "alliance h1:deadbeef", b.pk: "watch h1:deadbeef"}
    assert uris[a.pk] == story_uri("alliance h1:deadbeef", AUTHORITY)
    assert uris[a.pk] != uris[b.pk], "same key in two sources is not the same story"


def test_story_uri_shape() -> None:
    uri = story_uri("https://a.example/1", AUTHORITY)
    assert URI_RE.match(uri)
    assert uri == story_uri("https://a.example/1", AUTHORITY)
    assert uri != story_uri("https://a.example/2", AUTHORITY)
    assert story_uri("x", "other.example,2026").startswith("tag:other.example,2026:story/")


# --- build_item / build_items ---

STORY = "tag:news.example.org,2026:story/aaaaaaaaaaaaaaaaaaaa"


def test_the_original_publisher_is_primary_even_when_later() -> None:
    url = "https://alliance.example/news/fees"
    republished = stored(
        "union",
        "guid:u",
        "https://alliance.example/news/fees?utm_source=union",  # points at the alliance site
        url,
        T0,
        title="Union: recruitment fees",
        story=STORY,
    )
    original = stored(
        "alliance",
        "guid:a",
        "https://www.alliance.example/news/fees",
        url,
        T0 + timedelta(hours=6),
        title="Recruitment fees must end",
        story=STORY,
    )
    item = build_item([republished, original], SOURCES)
    assert item.id == STORY
    assert item.title == "Recruitment fees must end"
    assert item.link == "https://www.alliance.example/news/fees"
    assert item.summary_html == "<p>Recruitment fees must end</p>"
    assert item.published == T0, "published is the earliest member's date"
    assert [p.source_id for p in item.sources] == ["alliance", "union"]


def test_without_an_original_the_earliest_member_is_primary() -> None:
    url = "https://elsewhere.example/report"
    later = stored("union", "guid:u", url, url, T0 + timedelta(hours=1), title="U", story=STORY)
    earliest = stored("watch", "guid:w", url + "#x", url, T0, title="W", story=STORY)
    middle = stored("alliance", "guid:a", url, url, T0 + timedelta(minutes=30), story=STORY)
    item = build_item([later, middle, earliest], SOURCES)
    assert item.title == "W"
    assert item.link == url + "#x"
    assert item.published == T0
    assert [p.source_id for p in item.sources] == ["watch", "alliance", "union"]


def test_original_is_recognised_by_the_feed_url_host_too() -> None:
    url = "https://feeds.watch.example/story/1"
    other = stored("union", "guid:u", url, url, T0, title="copy", story=STORY)
    own = stored("watch", "guid:w", url, url, T0 + timedelta(days=1), title="own", story=STORY)
    assert build_item([other, own], SOURCES).title == "own"


def test_every_member_appears_in_provenance_with_its_own_link_and_date() -> None:
    url = "https://alliance.example/news/fees"
    members = [
        stored("alliance", "guid:a", url, url, T0 + timedelta(hours=2), story=STORY),
        stored("union", "guid:u", url + "?utm_source=u", url, T0, story=STORY),
        stored("watch", "guid:w", url + "#findings", url, T0 + timedelta(hours=1), story=STORY),
    ]
    item = build_item(members, SOURCES)
    got = {p.source_id: p for p in item.sources}
    assert len(item.sources) == 3
    for member in members:
        provenance = got[member.source_id]
        source = SOURCES[member.source_id]
        assert provenance.link == member.link
        assert provenance.published == member.published_at
        assert provenance.source_name == source.name
        assert provenance.source_url == source.url
        assert provenance.home_page == source.home_page


def test_tags_are_the_union_of_entry_and_source_tags_without_duplicates() -> None:
    url = "https://alliance.example/news/fees"
    members = [
        stored("alliance", "guid:a", url, url, T0, tags=("fees", "un"), story=STORY),
        stored("union", "guid:u", url, url, T0, tags=("fees", "agriculture"), story=STORY),
    ]
    tags = build_item(members, SOURCES).tags
    assert len(tags) == len(set(tags)), tags
    assert set(tags) == {"fees", "un", "agriculture", "network", "trade-union"}


def test_updated_is_the_latest_change_but_ignores_future_claims() -> None:
    url = "https://alliance.example/news/fees"
    edited = T0 + timedelta(days=2)
    members = [
        stored("alliance", "guid:a", url, url, T0, modified_at=edited, story=STORY),
        stored(
            "union",
            "guid:u",
            url,
            url,
            T0,
            claimed_updated=T0 + timedelta(days=90),  # after last_seen_at: not believed
            story=STORY,
        ),
    ]
    item = build_item(members, SOURCES)
    assert item.updated == edited
    plain = build_item([stored("watch", "guid:w", url, url, T0, story=STORY)], SOURCES)
    assert plain.updated == plain.published == T0


def test_build_items_sorts_newest_first_and_skips_empty_stories() -> None:
    stories = []
    for days in (3, 0, 7, 1):
        url = f"https://union.example/news/{days}"
        uri = story_uri(url, AUTHORITY)
        stories.append(
            [stored("union", f"guid:{days}", url, url, T0 + timedelta(days=days), story=uri)]
        )
    stories.append([])
    items = build_items(stories, SOURCES)
    assert [i.published for i in items] == [T0 + timedelta(days=d) for d in (7, 3, 1, 0)]
    assert len({i.id for i in items}) == 4


# --- near-duplicate titles across partners (#5) ---

WALK_FREE = "ILO and Walk Free Foundation to collaborate on Global Estimate of Modern Slavery"


def test_three_partners_carrying_one_story_make_one_story() -> None:
    original = stored(
        "alliance",
        "guid:1",
        "https://www.alliance.example/news/ilo-walk-free",
        "https://alliance.example/news/ilo-walk-free",
        T0,
        title=WALK_FREE,
    )
    shortened = stored(
        "union",
        "guid:u1",
        "https://union.example/2026/11/ilo-walk-free-estimate",
        "https://union.example/2026/11/ilo-walk-free-estimate",
        T0 + timedelta(days=1),
        title="ILO, Walk Free to collaborate on global estimate of modern slavery",
    )
    tracked = stored(
        "watch",
        "guid:w1",
        "https://www.alliance.example/news/ilo-walk-free?utm_source=rss&utm_medium=feed",
        "https://alliance.example/news/ilo-walk-free",
        T0 + timedelta(days=2),
        title="News: " + WALK_FREE,
    )
    uris = _uris(plan_assignments([tracked, shortened, original], {}, AUTHORITY))
    assert len(set(uris.values())) == 1


def test_similar_wording_different_stories_stay_apart() -> None:
    titles = [
        ("alliance", "Argentina joins the global movement against forced labour"),
        ("union", "Finland joins renewed fight to end forced labour"),
        ("watch", "Brazil ratifies the Protocol of 2014 to the Forced Labour Convention"),
        ("union", "Chile ratifies the Protocol of 2014 to the Forced Labour Convention"),
        ("alliance", "World Day Against Child Labour 2016"),
        ("watch", "World Day Against Child Labour 2017"),
        ("alliance", "Statement on forced labour"),
        ("union", "Statement on forced labour"),
    ]
    entries = [
        stored(src, f"guid:{n}", None, None, T0 + timedelta(hours=n), title=title)
        for n, (src, title) in enumerate(titles)
    ]
    uris = _uris(plan_assignments(entries, {}, AUTHORITY))
    assert len(set(uris.values())) == len(entries)


def test_near_duplicates_far_apart_in_time_are_different_stories() -> None:
    first = stored("alliance", "guid:a", None, None, T0, title=WALK_FREE)
    later = stored("union", "guid:b", None, None, T0 + timedelta(days=40), title=WALK_FREE)
    assert len(set(_uris(plan_assignments([first, later], {}, AUTHORITY)).values())) == 2


def test_one_partner_does_not_merge_its_own_entries_by_title() -> None:
    a = stored("alliance", "guid:a", None, None, T0, title="Weekly forced labour news roundup")
    b = stored(
        "alliance",
        "guid:b",
        None,
        None,
        T0 + timedelta(days=7),
        title="Weekly forced labour news roundup",
    )
    assert len(set(_uris(plan_assignments([a, b], {}, AUTHORITY)).values())) == 2


def test_late_duplicate_joins_the_existing_story_through_its_neighbours() -> None:
    existing = stored("alliance", "guid:a", None, None, T0, title=WALK_FREE, story="tag:existing")
    late = stored(
        "watch",
        "guid:w",
        "https://watch.example/x",
        "https://watch.example/x",
        T0 + timedelta(days=3),
        title="ILO, Walk Free to collaborate on global estimate of modern slavery",
    )
    plan = plan_assignments([late], {}, AUTHORITY, neighbours=[existing])
    assert _uris(plan) == {late.pk: "tag:existing"}
