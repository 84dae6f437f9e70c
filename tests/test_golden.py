"""Golden outputs: Atom, RSS and JSON Feed of a fixed store, byte for byte (#7).

The store is built through the real pipeline (parse, normalize, store, merge,
publish) with a fixed clock; only the network is replaced, by a fetcher that hands
over the documents in tests/data/golden/sources/. Regenerate after an intended
change with `UPDATE_GOLDEN=1 pytest tests/test_golden.py` (tests/data/golden/README.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator import config as config_mod
from aggregator.config import Source
from aggregator.models import Fetched, FetchResult, Validators
from aggregator.pipeline import run_pass
from aggregator.store import Store

from .conftest import DATA
from .test_publish import assert_valid_output

GOLDEN = DATA / "golden"
PUBLIC = "https://news.example.org/forced-labour/"
CONFIG = f"""
[aggregator]
title = "Forced Labour News"
subtitle = "News from the global network against forced labour"
public_url = "{PUBLIC}"
output_dir = "output"
database = "sqlite:///data/golden.sqlite"
websub_hub = "https://hub.example.org/"

[[sources]]
id = "alliance"
name = "Alliance 8.7"
url = "https://alliance87.example/news.rss"
home_page = "https://alliance87.example/"
tags = ["UN agencies"]

[[sources]]
id = "union"
name = "Global Union"
url = "https://union.example/news.atom"
home_page = "https://union.example/"
tags = ["Trade unions"]
"""
OUTPUTS = (
    "atom.xml",
    "rss.xml",
    "feed.json",
    "archive/2026-10/atom.xml",
    "archive/2026-10/rss.xml",
    "archive/2026-10/feed.json",
)


class FakeFetcher:
    """Hands each source the document it lists at this point of the story."""

    def __init__(self, documents: dict[str, tuple[str, str]]) -> None:
        self.documents = documents  # source id -> (file in sources/, content type)

    def fetch_all(
        self, sources: Iterable[Source], validators: dict[str, Validators]
    ) -> Iterator[FetchResult]:
        for source in sources:
            if source.id not in self.documents:
                continue
            name, content_type = self.documents[source.id]
            yield Fetched(
                source.id,
                source.url,
                source.url,
                200,
                (GOLDEN / "sources" / name).read_bytes(),
                content_type,
                Validators(),
                0.01,
            )


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("golden")
    (folder / "feeds.toml").write_text(CONFIG, encoding="utf-8")
    config = config_mod.load(folder / "feeds.toml")
    store = Store.open(config.settings.database)
    rss, atom = "application/rss+xml", "application/atom+xml"
    try:
        october = FakeFetcher({"alliance": ("alliance-october.rss", rss)})
        when = datetime(2026, 10, 20, 6, 0, tzinfo=UTC)
        run_pass(config, store, clock=lambda: when, force=True, fetcher=october)  # type: ignore[arg-type]
        november = FakeFetcher(
            {"alliance": ("alliance-november.rss", rss), "union": ("union.atom", atom)}
        )
        when = datetime(2026, 11, 18, 6, 0, tzinfo=UTC)
        report = run_pass(config, store, clock=lambda: when, force=True, fetcher=november)  # type: ignore[arg-type]
        assert report.publish is not None, report.publish_error
    finally:
        store.close()
    return config.settings.output_dir


@pytest.mark.parametrize("name", OUTPUTS)
def test_output_matches_its_golden_file(published: Path, name: str) -> None:
    expected = GOLDEN / "expected" / name
    actual = (published / name).read_bytes()
    if os.environ.get("UPDATE_GOLDEN") == "1":
        expected.parent.mkdir(parents=True, exist_ok=True)
        expected.write_bytes(actual)
    assert actual == expected.read_bytes(), (
        f"{name} differs from {expected}; if the change is intended, run"
        " UPDATE_GOLDEN=1 pytest tests/test_golden.py and review the diff"
    )


def test_golden_outputs_are_valid(published: Path) -> None:
    tags = [p for p in (published / "tags").iterdir() if (p / "atom.xml").exists()]
    assert len(tags) >= 2  # the sources' two tags, and the classification tags
    assert assert_valid_output(published, PUBLIC) == 1 + len(tags) + 2  # main, tags, 2 months
