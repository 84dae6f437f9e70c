"""Config stage: feeds.toml -> frozen dataclasses, with every problem reported at once."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from aggregator.config import (
    Config,
    HtmlSelectors,
    LexiconSettings,
    Settings,
    Source,
    documented_keys,
    load,
    loads,
    parse_duration,
    parse_size,
)
from aggregator.errors import ConfigError, ConfigProblem

from .conftest import REPO, write_config

MINIMAL = '[aggregator]\ntitle = "t"\npublic_url = "https://news.example.org/fl/"\n'


def _problems(text: str) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        loads(text, "feeds.toml")
    return info.value.problems


# --- the shipped files ---


def test_repository_feeds_toml_loads_as_a_real_starting_list() -> None:
    config = load(REPO / "feeds.toml")
    assert len(config.sources) >= 12
    ids = [s.id for s in config.sources]
    assert len(set(ids)) == len(ids), "duplicate source ids"
    for source in config.sources:
        parts = urlsplit(source.url)
        assert parts.scheme in ("http", "https"), source.id
        assert parts.hostname, source.id
        if source.type == "html":
            assert source.html is not None, source.id


def test_demo_feeds_toml_loads_once_base_is_filled_in() -> None:
    path = REPO / "aggregator" / "demo" / "feeds.toml"
    text = path.read_text(encoding="utf-8").replace("{base}", "http://127.0.0.1:9")
    config = loads(text, path)
    by_id = {s.id: s for s in config.sources}
    assert set(by_id) == {
        "sample-alliance",
        "sample-union",
        "sample-watch",
        "sample-research",
        "sample-business",
        "sample-broken",
        "sample-migrants",
        "gone-partner",
    }
    assert all(s.url.startswith("http://127.0.0.1:9/") for s in config.sources)
    assert by_id["sample-research"].interval == timedelta(hours=6)
    assert by_id["sample-alliance"].interval == timedelta(minutes=30)
    assert by_id["sample-business"].max_bytes == 2 * 1024**2
    assert by_id["sample-alliance"].max_bytes == 10 * 1024**2
    assert all(s.timeout == timedelta(seconds=5) for s in config.sources)
    business = by_id["sample-business"]
    assert business.type == "html"
    assert business.html == HtmlSelectors(
        item="ol.news > li",
        title="h3 a",
        link="h3 a@href",
        date=".date",
        group="h2.month",
        summary="p",
    )
    assert config.settings.tag_authority == "demo.forced-labour-news.example,2026"


# --- defaults and overrides ---


def test_defaults_apply_and_per_source_values_win(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        [
            {"id": "plain", "url": "https://a.example/feed"},
            {
                "id": "tuned",
                "url": "https://b.example/feed",
                "interval": "2h",
                "timeout": "45s",
                "max_bytes": "500KB",
                "lenient": False,
            },
        ],
        defaults='interval = "1h"\ntimeout = "7s"\nmax_bytes = "1MiB"\nlenient = true',
    )
    config = load(path)
    plain, tuned = config.source("plain"), config.source("tuned")
    assert plain is not None and tuned is not None
    assert (plain.interval, plain.timeout, plain.max_bytes, plain.lenient) == (
        timedelta(hours=1),
        timedelta(seconds=7),
        1024**2,
        True,
    )
    assert (tuned.interval, tuned.timeout, tuned.max_bytes, tuned.lenient) == (
        timedelta(hours=2),
        timedelta(seconds=45),
        500_000,
        False,
    )
    assert plain.name == "plain", "name defaults to the id"
    assert config.source("missing") is None


def test_built_in_defaults_without_a_defaults_table() -> None:
    config = loads(MINIMAL + '\n[[sources]]\nid = "a"\nurl = "https://a.example/feed"\n')
    (source,) = config.sources
    assert source.interval == timedelta(minutes=30)
    assert source.timeout == timedelta(seconds=20)
    assert source.max_bytes == 10 * 1024**2
    assert source.lenient is False
    assert source.type == "feed"
    assert config.settings.public_url == "https://news.example.org/fl/"
    assert config.settings.tag_authority == "news.example.org,2026"


def test_public_url_gets_a_trailing_slash() -> None:
    config = loads('[aggregator]\ntitle = "t"\npublic_url = "https://x.example/news"\n')
    assert config.settings.public_url == "https://x.example/news/"


# --- durations and sizes ---


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("20s", timedelta(seconds=20)),
        ("2d", timedelta(days=2)),
        ("1h 15m", timedelta(hours=1, minutes=15)),
    ],
)
def test_durations_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10MiB", 10 * 1024**2), ("500KB", 500_000), ("2000B", 2000), ("1GiB", 1024**3)],
)
def test_sizes_parse(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["often", "0m", 30, "10 parsecs", "", "m30", "30m often"])
def test_bad_durations_are_config_problems(bad: object) -> None:
    value = f'"{bad}"' if isinstance(bad, str) else str(bad)
    problems = _problems(MINIMAL + f"\n[defaults]\ninterval = {value}\n")
    assert [p.key for p in problems] == ["defaults.interval"]
    assert problems[0].line == 6
    assert problems[0].hint, "a bad duration should come with a hint"


@pytest.mark.parametrize("bad", ["10 parsecs", "huge", "0B", 2000, "-5MiB"])
def test_bad_sizes_are_config_problems(bad: object) -> None:
    value = f'"{bad}"' if isinstance(bad, str) else str(bad)
    problems = _problems(MINIMAL + f"\n[defaults]\nmax_bytes = {value}\n")
    assert [p.key for p in problems] == ["defaults.max_bytes"]
    assert problems[0].line == 6


# --- paths ---


def test_relative_output_dir_and_database_resolve_against_the_config_folder(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    config = load(write_config(folder, []))
    base = folder.resolve()
    assert config.settings.output_dir == base / "output"
    assert config.settings.database == f"sqlite:///{base}/data/store.sqlite"
    assert config.path == folder / "feeds.toml"


def test_absolute_output_dir_and_database_are_kept(tmp_path: Path) -> None:
    out, db = tmp_path / "elsewhere" / "out", tmp_path / "db" / "x.sqlite"
    text = (
        '[aggregator]\ntitle = "t"\npublic_url = "https://x.example/"\n'
        f'output_dir = "{out}"\ndatabase = "sqlite:///{db}"\n'
    )
    config = loads(text, tmp_path / "conf" / "feeds.toml")
    assert config.settings.output_dir == out
    assert config.settings.database == f"sqlite:///{db}"


def test_default_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    config = loads(MINIMAL, tmp_path / "feeds.toml")
    assert config.settings.output_dir == tmp_path.resolve() / "output"
    assert config.settings.database == f"sqlite:///{tmp_path.resolve()}/data/aggregator.sqlite"


# --- one file, many problems ---

BAD_LINES = [
    "[aggregator]",  # 1
    'titel = "Forced Labour News"',  # 2  unknown key (did you mean title?), title missing
    'database = "postgresql://db.example/news"',  # 3  not sqlite
    "",
    "[defaults]",  # 5
    'intervall = "30m"',  # 6  unknown key
    "",
    "[[sources]]  # s0",  # 8
    'id = "alpha"',
    'url = "https://alpha.example/feed"',
    'tagz = ["un"]',  # unknown key
    "",
    "[[sources]]  # s1",
    'id = "alpha"  # duplicate',
    'url = "not a url"',
    "",
    "[[sources]]  # s2",
    'id = "ftp-source"',
    'url = "ftp://files.example/feed.xml"',
    "",
    "[[sources]]  # s3",
    'id = "slow"',
    'url = "https://slow.example/feed"',
    'interval = "often"',
    "",
    "[[sources]]  # s4",
    'id = "big"',
    'url = "https://big.example/feed"',
    'max_bytes = "10 parsecs"',
    "",
    "[[sources]]  # s5",
    'name = "Has no id"',
    'url = "https://noid.example/feed"',
    "",
    "[[sources]]  # s6",
    'id = "no-url"',
    "",
    "[[sources]]  # s7",
    'id = "html-nosel"',
    'url = "https://nosel.example/news"',
    'type = "html"  # no selectors',
    "",
    "[[sources]]  # s8",
    'id = "html-partial"',
    'url = "https://partial.example/news"',
    'type = "html"',
    'html = { item = "li" }  # partial',
    "",
    "[[sources]]  # s9",
    'id = "html-datefmt"',
    'url = "https://datefmt.example/news"',
    'type = "html"',
    'html = { item = "li", title = "h3", link = "a@href", date_format = "%d %B %Y" }',
    "",
    "[[sources]]  # s10",
    'id = "html-badcss"',
    'url = "https://badcss.example/news"',
    'type = "html"',
    'html = { item = "li[[", title = "h3", link = "a@href", sumary = "p" }',
    "",
    "[[sources]]  # s11",
    'id = "feed-with-html"',
    'url = "https://feed.example/feed"',
    'html = { item = "li", title = "h3", link = "a@href" }  # not html',
    "",
    "[[sources]]  # s12",
    'id = "Bad ID"',
    'url = "https://badid.example/feed"',
]
BAD_TEXT = "\n".join(BAD_LINES) + "\n"


def _line(fragment: str) -> int:
    """1-based number of the only line of BAD_TEXT containing `fragment`."""
    found = [n for n, line in enumerate(BAD_LINES, 1) if fragment in line]
    assert len(found) == 1, (fragment, found)
    return found[0]


# (key path, line, a word of the message or hint that must be there)
EXPECTED = [
    ("aggregator.titel", _line("titel"), "did you mean title"),
    ("aggregator.title", _line("[aggregator]"), "required"),
    ("aggregator.public_url", _line("[aggregator]"), "required"),
    ("aggregator.database", _line("postgresql"), "database"),
    ("defaults.intervall", _line("intervall"), "did you mean interval"),
    ("sources[0] (alpha).tagz", _line("tagz"), "did you mean tags"),
    ("sources[1] (alpha).id", _line("# duplicate"), "duplicate"),
    ("sources[1] (alpha).url", _line("not a url"), "http(s)"),
    ("sources[2] (ftp-source).url", _line("ftp://"), "http(s)"),
    ("sources[3] (slow).interval", _line('"often"'), "duration"),
    ("sources[4] (big).max_bytes", _line("parsecs"), "size"),
    ("sources[5].id", _line("# s5"), "required"),
    ("sources[6] (no-url).url", _line("# s6"), "required"),
    ("sources[7] (html-nosel).html", _line("# no selectors"), "selectors"),
    ("sources[8] (html-partial).html.title", _line("# partial"), "required"),
    ("sources[8] (html-partial).html.link", _line("# partial"), "required"),
    ("sources[9] (html-datefmt).html.date_format", _line("date_format"), "html.date"),
    ("sources[10] (html-badcss).html.item", _line("li[["), "CSS selector"),
    ("sources[10] (html-badcss).html.sumary", _line("li[["), "did you mean summary"),
    ("sources[11] (feed-with-html).html", _line("# not html"), "HTML sources"),
    ("sources[12] (Bad ID).id", _line('"Bad ID"'), "source id"),
]


def test_a_bad_file_reports_every_problem_with_its_line() -> None:
    with pytest.raises(ConfigError) as info:
        loads(BAD_TEXT, "bad.toml")
    problems = info.value.problems
    by_key = {p.key: p for p in problems}
    for key, line, word in EXPECTED:
        assert key in by_key, f"{key} not reported; got {sorted(by_key)}"
        problem = by_key[key]
        assert problem.line == line, f"{key}: line {problem.line}, expected {line}"
        assert word.lower() in f"{problem.message} {problem.hint}".lower(), (key, str(problem))
    assert sorted(by_key) == sorted(k for k, _, _ in EXPECTED), "unexpected extra problems"
    assert len(problems) == len(EXPECTED), "a problem was reported twice"
    message = str(info.value)
    assert message.startswith(f"{len(EXPECTED)} problem(s) in bad.toml")
    assert "line 2: aggregator.titel: unknown key (fix: did you mean title?)" in message


def test_a_valid_source_next_to_a_bad_one_does_not_hide_the_problem() -> None:
    text = MINIMAL + (
        '\n[[sources]]\nid = "good"\nurl = "https://good.example/feed"\n'
        '\n[[sources]]\nid = "bad"\nurl = "https://bad.example/feed"\ntimeout = "0m"\n'
    )
    problems = _problems(text)
    assert [(p.key, p.line) for p in problems] == [("sources[1] (bad).timeout", 12)]


def test_unknown_top_level_table_is_a_problem() -> None:
    problems = _problems(MINIMAL + "\n[output]\npath = 'x'\n")
    assert [p.key for p in problems] == ["output"]


def test_toml_syntax_error_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        loads('[aggregator\ntitle = "t"\n', "broken.toml")
    (problem,) = info.value.problems
    assert problem.key == "(syntax)"
    assert "line 1" in problem.message
    assert info.value.path == "broken.toml"


def test_missing_file_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "feeds.toml"
    with pytest.raises(ConfigError) as info:
        load(missing)
    assert info.value.path == str(missing)
    assert str(missing) in str(info.value)
    assert "not found" in str(info.value)


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "feeds.toml"
    path.write_bytes(b'[aggregator]\ntitle = "\xff\xfe"\n')
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(path) in str(info.value)


# --- documentation support ---


def _field_names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_documented_keys_match_the_dataclasses() -> None:
    keys = documented_keys()
    assert set(keys) == {"aggregator", "defaults", "sources", "sources.html", "lexicon"}
    assert set(keys["aggregator"]) == _field_names(Settings)
    assert set(keys["sources"]) == _field_names(Source)
    assert set(keys["sources.html"]) == _field_names(HtmlSelectors)
    assert set(keys["lexicon"]) == _field_names(LexiconSettings)
    assert set(keys["defaults"]) <= set(keys["sources"])
    assert _field_names(Config) == {"path", "settings", "sources", "lexicon"}


def test_a_file_using_every_documented_key_loads(tmp_path: Path) -> None:
    samples = {
        "title": '"t"',
        "subtitle": '"s"',
        "public_url": '"https://x.example/"',
        "contact_url": '"https://x.example/about"',
        "output_dir": '"out"',
        "database": '"sqlite:///db.sqlite"',
        "language": '"fr"',
        "max_items": "50",
        "workers": "3",
        "schedule_interval": '"10m"',
        "tag_authority": '"x.example,2026"',
        "interval": '"1h"',
        "timeout": '"9s"',
        "max_bytes": '"1MiB"',
        "lenient": "true",
        "max_interval": '"12h"',
        "stale_after": '"30d"',
        "enabled": "false",
        "filter": '"all"',
        "per_host": "3",
        "allow_networks": '["127.0.0.1", "10.0.0.0/8"]',
        "block_titles": '["^Vacancy", "(?i)job offer"]',
        "block_urls": '["/jobs/"]',
        "retention": '"400d"',
        "tag_feeds": '["child-labour", "fr"]',
        "tag_feed_min_items": "2",
        "websub_hub": '"https://hub.example/"',
        "id": '"every-key"',
        "name": '"Every key"',
        "url": '"https://e.example/news"',
        "type": '"html"',
        "home_page": '"https://e.example/"',
        "tags": '["un"]',
        "html": "{ "
        + ", ".join(
            f'{k} = "{v}"'
            for k, v in {
                "item": "li",
                "title": "h3",
                "link": "a@href",
                "date": "time@datetime",
                "date_format": "%Y-%m-%d",
                "summary": "p",
                "group": "h2.month",
                "id": "@data-id",
            }.items()
        )
        + ", day_first = false }",
    }
    keys = documented_keys()
    assert set(keys["sources.html"]) == {
        *("item", "title", "link", "date", "date_format", "summary", "group", "id", "day_first")
    }
    lines = ["[aggregator]", *(f"{k} = {samples[k]}" for k in keys["aggregator"])]
    lines += ["[defaults]", *(f"{k} = {samples[k]}" for k in keys["defaults"])]
    lines += ["[[sources]]", *(f"{k} = {samples[k]}" for k in keys["sources"])]
    lexicon = {
        "file": '"lexicon.toml"',
        "threshold": "2.5",
        "terms": '{ forced-labour = { "bonded labour in kilns" = 3.0 } }',
        "negative": '["labour party conference"]',
        "remove": '["slavery"]',
    }
    assert set(lexicon) == set(keys["lexicon"])
    lines += ["[lexicon]", *(f"{k} = {v}" for k, v in lexicon.items())]
    (tmp_path / "lexicon.toml").write_bytes((REPO / "aggregator" / "lexicon.toml").read_bytes())
    config = loads("\n".join(lines) + "\n", tmp_path / "feeds.toml")
    (source,) = config.sources
    assert source.html is not None and source.html.date_format == "%Y-%m-%d"
    assert source.html.group == "h2.month" and source.html.id == "@data-id"
    assert source.html.day_first is False
    assert config.settings.workers == 3
    assert config.settings.schedule_interval == timedelta(minutes=10)
    assert config.settings.language == "fr"
    assert config.settings.websub_hub == "https://hub.example/"
    assert source.filter == "all"
    assert config.lexicon.file == tmp_path / "lexicon.toml"
    assert config.lexicon.terms == (("forced-labour", "bonded labour in kilns", 3.0),)
    assert config.lexicon.negative == (("labour party conference", 1.0),)
    assert config.lexicon.remove == ("slavery",) and config.lexicon.threshold == 2.5


def test_a_bad_block_pattern_names_the_key_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "feeds.toml"
    path.write_text(
        '[aggregator]\ntitle = "t"\npublic_url = "https://x.example/"\n'
        'block_titles = ["(unclosed"]\n\n[[sources]]\nid = "a"\nurl = "https://a.example/f"\n'
        'block_urls = [""]\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load(path)
    message = str(info.value)
    assert "aggregator.block_titles" in message and "not a valid regular expression" in message
    assert "block_urls" in message


def test_tag_feeds_must_be_all_or_slugs(tmp_path: Path) -> None:
    path = tmp_path / "feeds.toml"
    path.write_text(
        '[aggregator]\ntitle = "t"\npublic_url = "https://x.example/"\n'
        'tag_feeds = ["Child Labour"]\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load(path)
    assert "aggregator.tag_feeds" in str(info.value) and "'child-labour'" in str(info.value)
    path.write_text(path.read_text().replace('["Child Labour"]', '"all"'), encoding="utf-8")
    assert load(path).settings.tag_feeds is None
