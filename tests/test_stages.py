"""Unit tests of the pure stages and the store: config, normalize, merge, store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aggregator.config import Source, load, loads, parse_duration, parse_size
from aggregator.errors import ConfigError, LockedError, StoreError
from aggregator.merge import build_items, plan_assignments
from aggregator.models import Entry, StoredEntry, Validators
from aggregator.normalize import canonical_url, effective_published, entry_key
from aggregator.store import Store
from aggregator.store.schema import SCHEMA_VERSION

from .conftest import REPO

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_repository_feeds_toml_is_a_real_starting_list() -> None:
    config = load(REPO / "feeds.toml")
    assert len(config.sources) >= 12
    assert len({s.id for s in config.sources}) == len(config.sources)
    assert all(s.url.startswith("https://") for s in config.sources)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800), ("1h30m", 5400), ("20s", 20), ("2d", 172800)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["often", "0m", 30, "10 parsecs", ""])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - message checked in the e2e test
        parse_duration(bad)


def test_sizes() -> None:
    assert parse_size("10MiB") == 10 * 1024**2
    assert parse_size("500KB") == 500_000
    with pytest.raises(ValueError):  # noqa: PT011
        parse_size("huge")


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    config = loads(
        '[aggregator]\ntitle = "t"\npublic_url = "https://x.example/"\n', tmp_path / "f.toml"
    )
    assert config.settings.output_dir == tmp_path / "output"
    assert config.settings.database == f"sqlite:///{tmp_path}/data/aggregator.sqlite"


def test_all_problems_are_reported_with_lines() -> None:
    text = "\n".join(
        [
            "[aggregator]",  # 1
            'title = "t"',  # 2
            'public_url = "https://x.example/"',  # 3
            'database = "postgresql://db"',  # 4
            "[defaults]",  # 5
            'timeout = "soon"',  # 6
            "[[sources]]",  # 7
            'id = "a"',  # 8
            'url = "https://a.example/feed"',  # 9
            'html = { item = "li", title = "h3", link = "a@href" }',  # 10
            "[[sources]]",  # 11
            'id = "b"',  # 12
            'type = "html"',  # 13
            'url = "https://b.example/"',  # 14
            'html = { item = "li[", title = "h3" }',  # 15
        ]
    )
    with pytest.raises(ConfigError) as info:
        loads(text)
    found = {(p.key, p.line) for p in info.value.problems}
    assert ("aggregator.database", 4) in found
    assert ("defaults.timeout", 6) in found
    assert ("sources[0] (a).html", 10) in found
    assert ("sources[1] (b).html.link", 15) in found
    assert ("sources[1] (b).html.item", 15) in found


def test_canonical_url() -> None:
    assert (
        canonical_url("HTTP://News.Example:80/A?utm_source=x&b=2&a=1&fbclid=y&mc_cid=z#top")
        == "https://news.example/A?a=1&b=2"
    )
    assert canonical_url("https://news.example:8443") == "https://news.example:8443/"
    assert canonical_url("javascript:alert(1)") is None
    assert canonical_url(None) is None


def test_entry_key_precedence_and_never_the_date() -> None:
    assert entry_key("g", "https://x/", "t", "s") == "guid:g"
    assert entry_key(None, "https://x/", "t", "s") == "link:https://x/"
    hashed = entry_key(None, None, "Title", "<p>Summary</p>")
    assert hashed.startswith("h1:")
    assert hashed == entry_key(None, None, "Title", "Summary")
    assert hashed != entry_key(None, None, "Other title", "Summary")


def test_effective_published() -> None:
    first_seen = NOW
    assert effective_published(None, first_seen) == first_seen
    assert effective_published(NOW + timedelta(days=3), first_seen) == first_seen
    assert effective_published(NOW + timedelta(minutes=5), first_seen) == NOW + timedelta(minutes=5)
    assert effective_published(NOW - timedelta(days=3), first_seen) == NOW - timedelta(days=3)


def stored(pk: int, source: str, link: str | None, day: int, uri: str | None = None) -> StoredEntry:
    when = datetime(2026, 11, day, tzinfo=UTC)
    return StoredEntry(
        pk=pk, source_id=source, key=f"k{pk}", link=link, canonical_url=canonical_url(link),
        title=f"t{pk}", summary_html="", content_html="", author=None, tags=("x",),
        published_at=when, first_seen_at=when, last_seen_at=when, modified_at=None,
        claimed_updated=None, story_uri=uri,
    )  # fmt: skip


def test_plan_assignments_merges_by_canonical_url_and_is_deterministic() -> None:
    entries = [
        stored(1, "a", "https://a.example/story", 2),
        stored(2, "b", "https://a.example/story?utm_source=b", 3),
        stored(3, "b", "https://b.example/other", 1),
        stored(4, "c", None, 4),
    ]
    plan = {pk: uri for pk, uri, _ in plan_assignments(entries, {}, "x.example,2026")}
    assert plan[1] == plan[2]
    assert len({plan[1], plan[3], plan[4]}) == 3
    assert all(uri.startswith("tag:x.example,2026:story/") for uri in plan.values())
    again = {pk: uri for pk, uri, _ in plan_assignments(entries[::-1], {}, "x.example,2026")}
    assert again == plan
    known = {"https://a.example/story": "tag:old"}
    assert dict((pk, u) for pk, u, _ in plan_assignments(entries[1:2], known, "x"))[2] == "tag:old"


def test_build_item_prefers_the_original_publisher_and_keeps_provenance() -> None:
    sources = {
        "a": Source(id="a", name="A", url="https://a.example/feed", tags=("ngo",)),
        "b": Source(id="b", name="B", url="https://b.example/feed"),
    }
    members = [
        stored(2, "b", "https://a.example/story?utm_source=b", 1, "tag:s"),
        stored(1, "a", "https://a.example/story", 3, "tag:s"),
    ]
    (item,) = build_items([members], sources)
    assert item.sources[0].source_id == "a"  # original publisher first though later
    assert [p.source_id for p in item.sources] == ["a", "b"]
    assert item.published == datetime(2026, 11, 1, tzinfo=UTC)  # earliest carrier
    assert item.tags == ("ngo", "x")  # our tags (feeds.toml) before the feed's categories


def entry(key: str, title: str) -> Entry:
    return Entry(
        source_id="a", key=key, guid=key, link=f"https://a.example/{key}",
        canonical_url=f"https://a.example/{key}", title=title, summary_html="",
        content_html="", author=None, tags=(), published=NOW - timedelta(days=1),
        updated=None, content_hash=f"h:{title}",
    )  # fmt: skip


def test_store_upserts_detects_edits_and_keeps_validators(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/s.sqlite")
    try:
        assert store.schema_version() == SCHEMA_VERSION
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        validators = Validators('W/"abc"', "Wed, 02 Dec 2026 10:00:00 GMT")
        args = ("a", "https://a.example/feed", validators, 200)
        batch = [entry("1", "One"), entry("2", "Two"), entry("2", "Two")]
        assert store.record_entries(*args, batch, (), NOW, NOW) == (2, 0, 0)
        assert store.record_entries(*args, batch, (), NOW, NOW) == (0, 0, 0)
        assert store.record_entries(*args, [entry("1", "One, edited")], (), NOW, NOW) == (0, 1, 0)
        state = store.source_states()["a"]
        assert state.validators == validators
        assert state.entries == 2
    finally:
        store.close()


def test_store_lock_is_exclusive(tmp_path: Path) -> None:
    first = Store.open(f"sqlite:///{tmp_path}/s.sqlite")
    second = Store.open(f"sqlite:///{tmp_path}/s.sqlite")
    try:
        with first.lock(), pytest.raises(LockedError), second.lock():
            pass
        with second.lock():
            reacquired = True
        assert reacquired
    finally:
        first.close()
        second.close()


def test_corrupt_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a database"):
        Store.open(f"sqlite:///{path}")
