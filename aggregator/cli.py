"""The command line: a thin click layer over config, store, pipeline and publish.

Errors become one-line messages and exit codes here and nowhere else:

    0   success (a pass published, even if some sources failed: they are reported)
    1   publishing failed, or the store could not be used
    2   the configuration is invalid (nothing was touched)
    75  another pass holds the store's lock (EX_TEMPFAIL: try again later)
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from aggregator import __version__
from aggregator import config as config_mod
from aggregator.config import Config, Source
from aggregator.errors import AggregatorError, ConfigError, LockedError, StoreError
from aggregator.models import FetchResult, RunReport, SourceOutcome
from aggregator.store import Store

if TYPE_CHECKING:
    from aggregator.discover import Discovery

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_LOCKED = 0, 1, 2, 75
DEMO_PORT = 8765

log = logging.getLogger("aggregator")


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"aggregator: {message}", err=True)
    sys.exit(code)


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = (
        logging.ERROR
        if quiet
        else (logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S%z")
    )
    root = logging.getLogger("aggregator")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _load_config(path: str) -> Config:
    try:
        return config_mod.load(path)
    except ConfigError as exc:
        _fail(str(exc), EXIT_CONFIG)


@contextmanager
def _open_store(config: Config, *, locked: bool) -> Iterator[Store]:
    try:
        store = Store.open(config.settings.database)
    except StoreError as exc:
        _fail(str(exc), EXIT_FAILED)
    try:
        if locked:
            with store.lock():
                yield store
        else:
            yield store
    except LockedError as exc:
        _fail(str(exc), EXIT_LOCKED)
    except AggregatorError as exc:
        _fail(str(exc), EXIT_FAILED)
    finally:
        store.close()


class Context:
    def __init__(self, config_path: str, quiet: bool) -> None:
        self.config_path = config_path
        self.quiet = quiet


pass_context = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aggregator")
@click.option(
    "-c",
    "--config",
    "config_path",
    default="feeds.toml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The configuration file.",
)
@click.option("-v", "--verbose", count=True, help="Log every source (-v) or everything (-vv).")
@click.option("-q", "--quiet", is_flag=True, help="Print only errors.")
@click.pass_context
def main(ctx: click.Context, config_path: str, verbose: int, quiet: bool) -> None:
    """Forced-labour news aggregator: poll partners, merge stories, publish one timeline.

    \b
    Example:
      aggregator check            # validate feeds.toml
      aggregator run              # one pass, for cron
      aggregator demo             # try it offline on the sample partner network
    """
    _setup_logging(verbose, quiet)
    ctx.obj = Context(config_path, quiet)


def _progress(quiet: bool) -> Callable[[SourceOutcome], None] | None:
    if quiet or not sys.stderr.isatty():
        return None

    def show(outcome: SourceOutcome) -> None:
        marks = {"ok": "ok", "not_modified": "304", "failed": "FAILED", "deferred": "later"}
        mark = marks.get(outcome.status, outcome.status)
        click.echo(f"  {mark:>6}  {outcome.source_id}", err=True)

    return show


def _summary(report: RunReport, config: Config) -> str:
    ok = report.ok
    not_modified = sum(1 for o in ok if o.status == "not_modified")
    deferred = sum(1 for o in ok if o.status == "deferred")
    new = sum(o.new for o in ok)
    updated = sum(o.updated for o in ok)
    blocked = sum(o.blocked for o in ok)
    filtered = sum(o.filtered for o in ok)
    lines = [
        f"{len(report.outcomes)} sources checked: {len(ok)} ok ({not_modified} not modified"
        + (f", {deferred} deferred: their host asked to wait" if deferred else "")
        + f"), {len(report.failed)} failed; {new} new and {updated} updated entries"
        + (f"; {blocked} blocked by rules" if blocked else "")
        + (f"; {filtered} off topic" if filtered else "")
        + (f"; {len(report.skipped)} not due" if report.skipped else "")
    ]
    for outcome in report.failed:
        lines.append(f"  failed {outcome.source_id}: {outcome.kind}: {outcome.detail}")
    for outcome in ok:
        for warning in outcome.warnings:
            lines.append(f"  warning {outcome.source_id}: {warning}")
    if report.publish:
        pub = report.publish
        lines.append(
            f"{pub.items} items published to {config.settings.output_dir}"
            f" ({len(pub.written)} files written, {len(pub.unchanged)} unchanged)"
        )
    if report.publish_error:
        lines.append(f"publishing failed: {report.publish_error}")
    return "\n".join(lines)


def _run(
    config: Config, store: Store, *, force: bool, only: tuple[str, ...], quiet: bool
) -> RunReport:
    from aggregator.pipeline import run_pass

    return run_pass(config, store, force=force, only=only, progress=_progress(quiet))


@main.command()
@click.option("--force", is_flag=True, help="Fetch every source now, ignoring schedules.")
@click.option(
    "--source", "only", multiple=True, metavar="ID", help="Only this source (repeatable)."
)
@pass_context
def run(ctx: Context, force: bool, only: tuple[str, ...]) -> None:
    """One pass for cron: fetch due sources, merge, publish.

    \b
    Example:
      */10 * * * *  cd /srv/aggregator && .venv/bin/aggregator --quiet run
    \b
    Exit codes: 0 published (failed sources are reported), 1 publishing or the
    store failed, 2 invalid configuration, 75 another pass is running.
    """
    config = _load_config(ctx.config_path)
    unknown = [sid for sid in only if config.source(sid) is None]
    if unknown:
        _fail(f"unknown source id(s): {', '.join(unknown)}; see `aggregator sources`", EXIT_CONFIG)
    with _open_store(config, locked=True) as store:
        report = _run(config, store, force=force, only=only, quiet=ctx.quiet)
    if not ctx.quiet:
        click.echo(_summary(report, config))
    if report.publish_error:
        sys.exit(EXIT_FAILED)


@main.command()
@pass_context
def schedule(ctx: Context) -> None:
    """Run as a service: a pass every `schedule_interval` until SIGTERM or SIGINT.

    Sources are fetched when due (their own `interval`); a pass that finds the
    store locked by a cron `run` is skipped. Stops cleanly after the current pass.

    \b
    Example:
      aggregator --config /etc/aggregator/feeds.toml schedule
    \b
    Exit codes: 0 stopped by a signal, 1 the store failed, 2 invalid configuration.
    """
    from aggregator.pipeline import run_pass
    from aggregator.scheduler import run_service

    config = _load_config(ctx.config_path)
    stop = threading.Event()
    with _open_store(config, locked=False) as store:

        def job() -> None:
            try:
                with store.lock():
                    report = run_pass(config, store)
            except LockedError as exc:
                log.warning("pass skipped: %s", exc)
                return
            except AggregatorError as exc:
                log.error("pass failed: %s", exc)
                return
            log.info(_summary(report, config).replace("\n", " | "))

        run_service(job, config.settings.schedule_interval, stop)


@main.command()
@click.option(
    "--output",
    "output_dir",
    type=click.Path(file_okay=False),
    help="Output folder (default output/).",
)
@click.option("--database", help="Database URL (default sqlite:///data/demo.sqlite).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEMO_PORT,
    show_default=True,
    help="Port of the sample network on 127.0.0.1 (0: any free port). Its links carry the"
    " port, so keep it fixed to re-run the demo on the same store.",
)
def demo(output_dir: str | None, database: str | None, port: int) -> None:
    """Run the real pipeline offline against the bundled sample partner network.

    Starts the sample partners on 127.0.0.1, fetches them with the default
    embedded SQLite store, writes output/ and prints where to look.

    \b
    Example:
      aggregator demo && xdg-open output/feed.json
    \b
    Exit codes: 0 published, 1 publishing failed.
    """
    from aggregator.demo import DemoNetwork
    from aggregator.pipeline import run_pass

    try:
        network = DemoNetwork(port=port)
    except OSError as exc:
        _fail(
            f"cannot start the sample network on 127.0.0.1:{port}: {exc}; try --port 0", EXIT_FAILED
        )
    with network:
        text = network.config_text()
        try:
            config = config_mod.loads(text, Path.cwd() / "feeds.demo.toml")
        except ConfigError as exc:  # a bug in the bundled demo, not the user's fault
            _fail(str(exc), EXIT_CONFIG)
        settings = config.settings
        if output_dir or database:
            from dataclasses import replace

            settings = replace(
                settings,
                output_dir=Path(output_dir).resolve() if output_dir else settings.output_dir,
                database=database or settings.database,
            )
            config = replace(config, settings=settings)
        click.echo(
            f"sample partner network serving {len(config.sources)} partners at {network.base}"
        )
        with _open_store(config, locked=True) as store:
            report = run_pass(config, store, force=True, progress=_progress(False))
    click.echo(_summary(report, config))
    out = config.settings.output_dir
    click.echo("look at:")
    for name in ("index.html", "atom.xml", "rss.xml", "feed.json", "digest.json", "status.json"):
        click.echo(f"  {out / name}")
    click.echo(f"database: {config.settings.database}")
    if report.publish_error:
        sys.exit(EXIT_FAILED)


@main.command()
@click.option(
    "--fetch",
    is_flag=True,
    help="Also fetch and parse each source once; show what HTML selectors find.",
)
@click.option(
    "--source",
    "only",
    multiple=True,
    metavar="ID",
    help="With --fetch: only this source (repeatable).",
)
@click.option(
    "--items",
    "show",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="With --fetch: items shown per HTML source (0: all).",
)
@pass_context
def check(ctx: Context, fetch: bool, only: tuple[str, ...], show: int) -> None:
    """Validate the configuration; with --fetch, also try every source once.

    Every problem is listed with its key, line and a fix. Nothing is written.
    For an HTML source, --fetch prints what the selectors extract from each item
    (title, link, date as read and as written, summary, id), how many items each
    selector matched, and warnings, so the selectors can be tuned.

    \b
    Example:
      aggregator check --fetch --source partner-news-page
    \b
    Exit codes: 0 valid (and every source fetched), 1 a source failed, 2 invalid
    configuration or unknown --source.
    """
    config = _load_config(ctx.config_path)
    click.echo(f"{config.path}: ok, {len(config.sources)} sources")
    if only and not fetch:
        _fail("--source needs --fetch", EXIT_CONFIG)
    if not fetch:
        return
    from aggregator.errors import ParseError
    from aggregator.fetch import Fetcher
    from aggregator.models import Deferred, Fetched, NotModified
    from aggregator.parse import parse

    unknown = [sid for sid in only if config.source(sid) is None]
    if unknown:
        _fail(f"unknown source id(s): {', '.join(unknown)}; see `aggregator sources`", EXIT_CONFIG)
    chosen = [s for s in config.sources if not only or s.id in only]
    failures = 0
    fetcher = Fetcher(config.settings)
    results = {r.source_id: r for r in fetcher.fetch_all(chosen, {})}
    for source in chosen:
        result = results[source.id]
        if isinstance(result, Fetched):
            moved = f" (final URL {result.final_url})" if result.final_url != source.url else ""
            try:
                if source.type == "html":
                    lines = _html_check(
                        source, result.body, result.content_type, result.final_url, show
                    )
                    lines[0] += moved
                else:
                    parsed = parse(result.body, result.content_type, result.final_url, source)
                    lines = [f"  ok     {source.id}: {len(parsed.entries)} entries{moved}"]
                    lines += [f"         warning: {w}" for w in parsed.warnings]
            except ParseError as exc:
                failures += 1
                click.echo(f"  FAILED {source.id}: {exc.kind}: {exc.detail}")
                continue
            click.echo("\n".join(lines))
        elif isinstance(result, NotModified):
            click.echo(f"  ok     {source.id}: not modified")
        elif isinstance(result, Deferred):
            click.echo(f"  later  {source.id}: {result.detail}")
        else:
            failures += 1
            click.echo(f"  FAILED {source.id}: {result.kind}: {result.detail}")
    if failures:
        click.echo(f"{failures} of {len(chosen)} sources failed")
        sys.exit(EXIT_FAILED)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _entries(count: int) -> str:
    return f"{count} {'entry' if count == 1 else 'entries'}"


def _shorten(text: str, width: int = 100) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _html_check(
    source: Source, body: bytes, content_type: str | None, url: str, show: int
) -> list[str]:
    """What the selectors extract, item by item (raises ParseError like parsing)."""
    from aggregator.dates import describe
    from aggregator.errors import ParseError
    from aggregator.htmlsource import extract_html_list
    from aggregator.models import FailureKind
    from aggregator.normalize import normalize_entry, plain_text

    assert source.html is not None  # guaranteed by config validation
    extraction = extract_html_list(body, content_type, url, source.html)
    entries = extraction.entries
    if not entries:
        raise ParseError(
            FailureKind.NO_ITEMS,
            f"{len(extraction.items)} items matched {source.html.item!r} but none had a title"
            f" ({source.html.title!r})",
        )
    lines = [
        f"  ok     {source.id}: {len(entries)} entries from {len(extraction.items)} items (html)"
    ]
    if extraction.base_url != url:
        lines.append(f"         links resolve against <base href> {extraction.base_url}")
    for match in extraction.matches:
        lines.append(
            f"         {match.key + ' selector':<17} {match.selector!r}:"
            f" {match.matched} of {match.total} items"
        )
    if source.html.group:
        lines.append(
            f"         {'group selector':<17} {source.html.group!r}: {extraction.headings} headings"
        )
    lines += [f"         warning: {w}" for w in extraction.warnings]
    shown = extraction.items[:show] if show else extraction.items
    for item in shown:
        lines.append(f"         [{item.position}] title:   {item.title or '-'}")
        lines.append(f"             link:    {item.link or '-'}")
        raw = repr(item.date_raw) if item.date_raw is not None else "no date text"
        heading = f", heading {item.heading!r}" if item.heading is not None else ""
        lines.append(f"             date:    {describe(item.published)} ({raw}{heading})")
        summary = plain_text(item.summary) if item.summary else "-"
        lines.append(f"             summary: {_shorten(summary)}")
        if item.entry is None:
            lines.append(f"             id:      - (skipped: {item.skipped})")
        else:
            key = normalize_entry(item.entry, source.id, url).key
            lines.append(f"             id:      {key}")
    if len(shown) < len(extraction.items):
        hidden = len(extraction.items) - len(shown)
        lines.append(f"         … {_plural(hidden, 'more item')} (--items 0 shows all)")
    return lines


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


@main.command()
@pass_context
def sources(ctx: Context) -> None:
    """Show every configured source with its health.

    Columns: id; state (new, ok, slow, failing, moved, gone, disabled), with
    "stale" added when nothing new came for the source's stale_after; entries
    stored; last success; last new entry; consecutive failures; next check; and
    the reason (last error, move to report in feeds.toml, warning).

    \b
    Example:
      aggregator sources
    \b
    Exit codes: 0 shown, 1 the store failed, 2 invalid configuration.
    """
    from aggregator.health import assess
    from aggregator.pipeline import utcnow

    config = _load_config(ctx.config_path)
    with _open_store(config, locked=False) as store:
        states = store.source_states()
    now = utcnow()
    click.echo(
        f"{'id':<24} {'state':<14} {'entries':>7}  {'last success':<16}  {'last new':<16}"
        f"  {'fails':>5}  {'next check':<16}  detail"
    )
    for source in config.sources:
        state = states.get(source.id)
        health = assess(source, state, now)
        label = health.state + (" stale" if health.stale else "")
        detail = health.reason
        if not detail and state is not None and state.last_warning:
            detail = f"warning: {state.last_warning}"
        if state is None:
            click.echo(f"{source.id:<24} {label:<14} {0:>7}  {'never checked':<16}")
            continue
        click.echo(
            f"{source.id:<24} {label:<14} {state.entries:>7}  {_when(state.last_success_at):<16}"
            f"  {_when(state.last_new_at):<16}  {state.consecutive_failures:>5}"
            f"  {_when(state.next_check_at):<16}  {detail}"
        )


@main.command()
@pass_context
def publish(ctx: Context) -> None:
    """Re-render every output from the store, without fetching.

    \b
    Example:
      aggregator publish
    \b
    Exit codes: 0 published, 1 publishing or the store failed, 2 invalid
    configuration, 75 another pass is running.
    """
    from aggregator.pipeline import merge, publish_from_store, utcnow

    config = _load_config(ctx.config_path)
    with _open_store(config, locked=True) as store:
        merge(store, config, utcnow())
        report = publish_from_store(store, config)
    if not ctx.quiet:
        click.echo(
            f"{report.items} items published to {config.settings.output_dir}"
            f" ({len(report.written)} files written, {len(report.unchanged)} unchanged)"
        )


def _editorial(ctx: Context, item: str, reason: str, hide: bool) -> None:
    from aggregator.normalize import canonical_url
    from aggregator.pipeline import publish_from_store, utcnow

    if not reason.strip():
        _fail("--reason must say why (it is kept in the editorial log)", EXIT_CONFIG)
    config = _load_config(ctx.config_path)
    with _open_store(config, locked=True) as store:
        story = store.find_story(item, canonical_url(item))
        if story is None:
            _fail(
                f"no story with id or link {item!r}; copy the id from feed.json or atom.xml,"
                " or give the link of one of its entries",
                EXIT_FAILED,
            )
        if story.hidden == hide:
            state = "hidden" if hide else "not hidden"
            click.echo(f"{story.uri} is already {state}: {story.title}")
            return
        now = utcnow()
        store.set_hidden(story.uri, hide, reason.strip(), now)
        report = publish_from_store(store, config, now)
    if not ctx.quiet:
        verb = "hidden" if hide else "shown again"
        click.echo(f"{story.uri} {verb}: {story.title}")
        click.echo(
            f"{report.items} items published ({len(report.written)} files written,"
            f" {len(report.unchanged)} unchanged)"
        )


@main.command()
@click.argument("item")
@click.option("--reason", required=True, help="Why (kept in the editorial log).")
@pass_context
def hide(ctx: Context, item: str, reason: str) -> None:
    """Take a story out of every output, and keep it out.

    ITEM is a story id (tag:...) or the link of any of its entries. The story stays
    hidden while partners still list it, and entries that join it later are
    hidden with it. The outputs are published again at once.

    \b
    Example:
      aggregator hide tag:news.example.org,2026:story/3f2a... --reason "duplicate of ..."
      aggregator hide https://partner.example/news/123 --reason "partner asked"
    \b
    Exit codes: 0 hidden (or already), 1 no such story or the store failed,
    2 invalid configuration or empty reason, 75 another pass is running.
    """
    _editorial(ctx, item, reason, True)


@main.command()
@click.argument("item")
@click.option("--reason", required=True, help="Why (kept in the editorial log).")
@pass_context
def unhide(ctx: Context, item: str, reason: str) -> None:
    """Show a hidden story again (ITEM: story id or link), and publish.

    \b
    Example:
      aggregator unhide https://partner.example/news/123 --reason "hidden by mistake"
    \b
    Exit codes: as for hide.
    """
    _editorial(ctx, item, reason, False)


@main.command()
@click.option("--all", "show_all", is_flag=True, help="Every hide and unhide ever recorded.")
@pass_context
def hidden(ctx: Context, show_all: bool) -> None:
    """List hidden stories with when and why; --all shows the whole editorial log.

    \b
    Example:
      aggregator hidden --all
    \b
    Exit codes: 0 listed, 1 the store failed, 2 invalid configuration.
    """
    config = _load_config(ctx.config_path)
    with _open_store(config, locked=False) as store:
        records = store.editorial_log(current_only=not show_all)
    if not records:
        click.echo("no hidden stories" if not show_all else "the editorial log is empty")
        return
    for record in records:
        click.echo(
            f"{_when(record.at)}  {record.action:<6}  {record.story_uri}  {record.title}"
            f"\n{'':18}reason: {record.reason}"
        )


@main.command()
@click.argument("url")
@click.option(
    "--id", "source_id", metavar="ID", help="Source id (default: from the host, made unique)."
)
@click.option("--name", metavar="NAME", help="Partner name (default: the feed's title).")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="Tag every item (repeatable).")
@click.option(
    "--pick",
    type=click.IntRange(min=1),
    metavar="N",
    help="Use candidate N of the list shown instead of the first usable one.",
)
@click.option("--dry-run", is_flag=True, help="Print the [[sources]] block; write nothing.")
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="The configuration file to add to (default: the global --config, feeds.toml).",
)
@pass_context
def add(
    ctx: Context,
    url: str,
    source_id: str | None,
    name: str | None,
    tags: tuple[str, ...],
    pick: int | None,
    dry_run: bool,
    config_path: str | None,
) -> None:
    """Find the feed of a partner's page and add it to feeds.toml as a source.

    Fetches URL: a feed is used as it is; on an HTML page, the feeds it links to
    (<link rel="alternate">) are tried, else common paths such as /feed and
    /rss.xml on the same site. Every candidate is listed with its type, title and
    entries; the first usable one is taken (or --pick N). A [[sources]] block is
    appended to the file (existing content is kept byte for byte), then the file
    is validated and restored if it does not load. --dry-run only prints the block.

    \b
    Example:
      aggregator add https://partner.example/news --tag ngo --dry-run
      aggregator add https://partner.example/news --id partner-news --pick 2
    \b
    Exit codes: 0 added (or printed with --dry-run, or already configured), 1 the
    URL could not be fetched or no feed was found, 2 invalid configuration or
    options (the file is left unchanged).
    """
    from urllib.parse import urlsplit

    from aggregator.configwrite import append_source, newline_of, source_block
    from aggregator.discover import derive_id, discover
    from aggregator.normalize import canonical_url

    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        _fail(f"{url!r} is not an absolute http(s) URL; write it with https://", EXIT_CONFIG)
    url = url.strip()
    path = Path(config_path or ctx.config_path)
    config = _load_config(str(path))
    existing = {s.id for s in config.sources}
    if source_id is not None:
        if not config_mod.is_source_id(source_id):
            _fail(
                f"--id {source_id!r} is not a valid source id; use lower-case letters, digits"
                " and '-', e.g. partner-news",
                EXIT_CONFIG,
            )
        if source_id in existing:
            _fail(f"--id {source_id!r} is already used in {path}; choose another", EXIT_CONFIG)
    if any(not t.strip() for t in tags) or (name is not None and not name.strip()):
        _fail("--tag and --name must not be empty", EXIT_CONFIG)

    discovery = discover(url, _fetch_many(config))
    if discovery.error:
        _fail(f"cannot fetch {url}: {discovery.error}", EXIT_FAILED)
    _show_discovery(discovery)
    valid = discovery.valid
    if not valid:
        suggested = source_id or derive_id(discovery.final_url, discovery.page_title, existing)
        click.echo(_no_feed_help(discovery, suggested))
        sys.exit(EXIT_FAILED)
    if pick is not None:
        if pick > len(discovery.candidates):
            _fail(f"--pick {pick}: there are {len(discovery.candidates)} candidates", EXIT_CONFIG)
        chosen = discovery.candidates[pick - 1]
        if not chosen.ok:
            _fail(f"--pick {pick}: {chosen.url} is not a usable feed ({chosen.error})", EXIT_CONFIG)
    else:
        chosen = valid[0]
    click.echo(f"using [{discovery.candidates.index(chosen) + 1}] {chosen.url}")
    wanted = {canonical_url(chosen.url)} | (
        {canonical_url(url)} if chosen.found_by == "url" else set()
    )
    same = [s for s in config.sources if canonical_url(s.url) in wanted]
    if same:
        click.echo(f"{chosen.url} is already configured as source {same[0].id!r}; nothing added")
        return

    title = chosen.title or discovery.page_title
    new_id = source_id or derive_id(chosen.url, title, existing)
    fields: list[tuple[str, str | tuple[str, ...]]] = [
        ("id", new_id),
        ("name", (name or title or urlsplit(chosen.url).hostname or new_id).strip()),
        ("url", chosen.url),
    ]
    if discovery.is_html:
        fields.append(("home_page", discovery.final_url))
    if tags:
        fields.append(("tags", tuple(t.strip() for t in tags)))
    how = {"url": "the feed given", "link": "linked from", "path": "a common path of"}
    comment = f"Added by `aggregator add` ({how[chosen.found_by]} {url})"
    try:
        original = path.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {path}: {exc}", EXIT_CONFIG)
    block = source_block(fields, comment=comment, newline=newline_of(original))
    if dry_run:
        click.echo(f"dry run: would append to {path}:\n")
        click.echo(block, nl=False)
        return

    def verify(written: Path) -> None:
        loaded = config_mod.load(written)
        added = loaded.source(new_id)
        if added is None or added.url != chosen.url:
            from aggregator.errors import ConfigProblem

            raise ConfigError(
                str(written),
                [ConfigProblem("sources", f"the new source {new_id!r} did not load as written")],
            )

    try:
        append_source(path, block, verify)
    except ConfigError as exc:
        _fail(f"{exc}\n{path} was left unchanged", EXIT_CONFIG)
    click.echo(f"added source {new_id!r} to {path}:\n")
    click.echo(block, nl=False)
    click.echo(f"\ncheck it with: aggregator check --fetch --source {new_id}")


def _fetch_many(config: Config) -> Callable[[Sequence[str]], list[FetchResult]]:
    """Fetch URLs with the pipeline's Fetcher (same User-Agent, limits and politeness)."""
    from aggregator.fetch import Fetcher

    fetcher = Fetcher(config.settings)

    def fetch_many(urls: Sequence[str]) -> list[FetchResult]:
        probes = [Source(id=f"candidate-{n}", name="candidate", url=u) for n, u in enumerate(urls)]
        results = {r.source_id: r for r in fetcher.fetch_all(probes, {})}
        return [results[p.id] for p in probes]

    return fetch_many


def _show_discovery(discovery: Discovery) -> None:
    first = discovery.candidates[0] if discovery.candidates else None
    if discovery.is_html:
        title = f' "{discovery.page_title}"' if discovery.page_title else ""
        click.echo(f"{discovery.final_url} is an HTML page{title}")
    elif first is not None and first.found_by == "url":
        click.echo(f"{discovery.url} is a feed" + ("" if first.ok else " but cannot be used"))
    else:
        click.echo(f"{discovery.final_url} is neither a feed nor an HTML page")
    links = [c for c in discovery.candidates if c.found_by == "link"]
    if discovery.is_html and not links:
        click.echo('  it links to no feed (<link rel="alternate">)')
    if discovery.probed:
        found = sum(1 for c in discovery.candidates if c.found_by == "path")
        click.echo(f"  probed {len(discovery.probed)} common paths: {_plural(found, 'feed')}")
    for number, candidate in enumerate(discovery.candidates, 1):
        where = {"url": "the URL", "link": "linked", "path": "probed"}[candidate.found_by]
        if candidate.ok:
            title = f'"{candidate.title}"' if candidate.title else "(untitled)"
            click.echo(
                f"  [{number}] {candidate.url}  {candidate.type or '?'}  {title}"
                f"  {_entries(candidate.entries)}  ({where})"
            )
        else:
            click.echo(f"  [{number}] {candidate.url}  NOT USABLE: {candidate.error}  ({where})")


def _no_feed_help(discovery: Discovery, suggested_id: str) -> str:
    from aggregator.configwrite import toml_string

    return (
        f"no feed found for {discovery.url}.\n"
        "If the page lists news items, add it as an HTML source with CSS selectors,"
        " for example:\n\n"
        "[[sources]]\n"
        f"id = {toml_string(suggested_id)}\n"
        f"name = {toml_string(discovery.page_title or suggested_id)}\n"
        'type = "html"\n'
        f"url = {toml_string(discovery.final_url)}\n"
        'html = { item = "ul.news > li", title = "h3", link = "h3 a@href",'
        ' date = ".date", summary = "p" }\n\n'
        "then adjust the selectors until `aggregator check --fetch --source"
        f" {suggested_id}` shows the right titles, links and dates (see docs/CONFIG.md)."
    )


# --- serving (#7) ---


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port to listen on (0: any free port; the address is printed).",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    help="Folder to serve (default: output_dir of the configuration).",
)
@pass_context
def serve(ctx: Context, host: str, port: int, directory: str | None) -> None:
    """Serve the output folder over HTTP until SIGTERM or SIGINT.

    Content types per output, ETag and Last-Modified with 304, gzip, CORS on the
    JSON files and embed.js, Cache-Control max-age=300; index.html for folders, no
    listings, nothing outside the folder. For production, the same headers from
    nginx or Caddy: contrib/nginx/aggregator.conf, contrib/caddy/Caddyfile.

    \b
    Example:
      aggregator serve --port 8080 && xdg-open http://127.0.0.1:8080/
    \b
    Exit codes: 0 stopped by a signal, 1 the folder is missing or the address
    cannot be used, 2 invalid configuration (when --dir is not given).
    """
    from aggregator.serve import make_server, serve_until_signalled

    folder = Path(directory) if directory else _load_config(ctx.config_path).settings.output_dir
    if not folder.is_dir():
        _fail(f"{folder} is not a folder; run `aggregator publish` or pass --dir", EXIT_FAILED)
    try:
        server = make_server(folder, host, port)
    except (OSError, OverflowError) as exc:
        _fail(f"cannot listen on {host}:{port}: {exc}", EXIT_FAILED)
    bound = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"serving {folder} at http://{shown}:{bound}/ (Ctrl-C or SIGTERM stops)")
    sys.stdout.flush()
    serve_until_signalled(server, threading.Event())


# --- OPML (#7) ---


@main.group()
def opml() -> None:
    """Move the source list in and out as OPML 2.0 (feed readers, other aggregators).

    \b
    Example:
      aggregator opml export partners.opml
      aggregator opml import subscriptions.opml --tag ngo --dry-run
    """


@opml.command("export")
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@pass_context
def opml_export(ctx: Context, file: str | None) -> None:
    """Write the configured sources as OPML 2.0 to FILE (default: standard output).

    The same document as output/sources.opml: one outline per source, with its
    name, feed URL, home page and tags; `aggregator opml import` of it on another
    instance recreates the same sources (ids and HTML selectors included).

    \b
    Example:
      aggregator opml export > partners.opml
    \b
    Exit codes: 0 written, 1 FILE could not be written, 2 invalid configuration.
    """
    from aggregator.errors import PublishError
    from aggregator.publish.opml import render_sources_opml
    from aggregator.publish.write import write_if_changed

    config = _load_config(ctx.config_path)
    data = render_sources_opml(config.settings, config.sources)
    if file is None or file == "-":
        sys.stdout.buffer.write(data)
        return
    try:
        write_if_changed(Path(file), data)
    except PublishError as exc:
        _fail(str(exc), EXIT_FAILED)
    if not ctx.quiet:
        click.echo(f"{len(config.sources)} sources written to {file}", err=True)


def _read_opml_file(file: str) -> bytes:
    from aggregator.opmlimport import MAX_OPML_BYTES

    try:
        if file == "-":
            return sys.stdin.buffer.read(MAX_OPML_BYTES + 1)
        with open(file, "rb") as handle:  # bounded: a huge file is refused, not read
            return handle.read(MAX_OPML_BYTES + 1)
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror or exc}", EXIT_FAILED)


@opml.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--dry-run", is_flag=True, help="Print the [[sources]] blocks; write nothing.")
@click.option(
    "--tag", "tags", multiple=True, metavar="TAG", help="Add this tag to every source (repeatable)."
)
@pass_context
def opml_import(ctx: Context, file: str, dry_run: bool, tags: tuple[str, ...]) -> None:
    """Append the feeds of an OPML 1.0/2.0 file to feeds.toml as sources.

    Every outline with an xmlUrl becomes a source (folders and the category
    attribute become tags); sources already configured (same canonical URL) are
    skipped and reported, and so are outlines that are not usable (no xmlUrl, not
    an http(s) URL). Ids are derived like `add` does, unique. The blocks are
    appended with the existing content kept byte for byte, then the file is
    validated and restored if it does not load. Files with a DOCTYPE (entity
    tricks) or larger than 10 MiB are refused; nothing is fetched.

    \b
    Example:
      aggregator opml import subscriptions.opml --tag ngo --dry-run
    \b
    Exit codes: 0 imported (or nothing new, or printed with --dry-run), 1 the file
    cannot be read or is not a usable OPML file, 2 invalid configuration or
    options, or the result did not validate (the file is left unchanged).
    """
    from aggregator.configwrite import append_source, newline_of, source_block
    from aggregator.errors import ParseError
    from aggregator.opmlimport import plan_import, read_opml

    if any(not t.strip() for t in tags):
        _fail("--tag must not be empty", EXIT_CONFIG)
    path = Path(ctx.config_path)
    config = _load_config(str(path))
    try:
        opml_list = read_opml(_read_opml_file(file))
    except ParseError as exc:
        _fail(f"{file} refused: {exc.detail}", EXIT_FAILED)
    plan = plan_import(opml_list, config.sources, tuple(t.strip() for t in tags))
    title = f' "{opml_list.title}"' if opml_list.title else ""
    click.echo(
        f"{file}: OPML {opml_list.version}{title},"
        f" {_plural(len(opml_list.outlines), 'source outline')}"
    )
    for warning in opml_list.warnings:
        click.echo(f"  warning: {warning}")
    for new in plan.added:
        line = f"line {new.outline.line}" if new.outline.line else ""
        click.echo(f"  add      {line:<10} {new.id}: {new.outline.url}")
        for note in new.notes:
            click.echo(f"           {'':<10} note: {note}")
    for skip in plan.skipped:
        mark = "refused" if skip.refused else "exists"
        line = f"line {skip.line}" if skip.line else ""
        name = f'"{skip.name}" ' if skip.name else ""
        click.echo(f"  {mark:<8} {line:<10} {name}{skip.reason}")
    counts = f"{len(plan.existing)} already configured or repeated, {len(plan.refused)} not usable"
    if not plan.added:
        click.echo(f"nothing to add ({counts})")
        return
    try:
        original = path.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {path}: {exc}", EXIT_CONFIG)
    newline = newline_of(original)
    origin = "standard input" if file == "-" else Path(file).name
    comment = f"Imported by `aggregator opml import` from {origin}"
    blocks = newline.join(
        source_block(new.fields, comment=comment if n == 0 else "", newline=newline)
        for n, new in enumerate(plan.added)
    )
    if dry_run:
        click.echo(f"dry run: would append {_plural(len(plan.added), 'source')} to {path}:\n")
        click.echo(blocks, nl=False)
        return

    def verify(written: Path) -> None:
        from aggregator.errors import ConfigProblem

        loaded = config_mod.load(written)
        for new in plan.added:
            source = loaded.source(new.id)
            if source is None or source.url != new.outline.url:
                raise ConfigError(
                    str(written),
                    [
                        ConfigProblem(
                            "sources", f"the new source {new.id!r} did not load as written"
                        )
                    ],
                )

    try:
        append_source(path, blocks, verify)
    except ConfigError as exc:
        _fail(f"{exc}\n{path} was left unchanged", EXIT_CONFIG)
    click.echo(f"added {_plural(len(plan.added), 'source')} to {path} ({counts})")
    click.echo("check them with: aggregator check --fetch")


@main.command()
@click.argument("item")
@pass_context
def explain(ctx: Context, item: str) -> None:
    """Show why a story is in the timeline: matched terms, fields, tags.

    ITEM is a story id (tag:...) or the link of one of its entries.

    \b
    Example:
      aggregator explain https://partner.example/news/123
    \b
    Exit codes: 0 shown, 1 no such story or the store failed, 2 invalid configuration.
    """
    import json

    from aggregator.normalize import canonical_url

    config = _load_config(ctx.config_path)
    sources = {s.id: s for s in config.sources}
    with _open_store(config, locked=False) as store:
        story = store.find_story(item, canonical_url(item))
        members = store.story_members(story.uri) if story else []
    if story is None:
        _fail(f"no story with id or link {item!r}", EXIT_FAILED)
    state = "hidden" if story.hidden else "tombstoned" if story.pruned else "published"
    click.echo(f"{story.uri}  ({state})\n  {story.title}")
    for member in members:
        source = sources.get(member.source_id)
        name = source.name if source else f"{member.source_id} (no longer in feeds.toml)"
        click.echo(f"\n{name}: {member.title}\n  link: {member.link or '-'}")
        if not member.why:
            click.echo("  stored before classification: no explanation recorded")
            continue
        why = json.loads(member.why)
        rule = source.filter if source else "?"
        click.echo(f"  score {why['score']} (filter = {rule!r}; relevant: {why['relevant']})")
        for match in why["matches"]:
            themes = ", ".join(match["themes"]) or "-"
            click.echo(
                f"  + {match['term']!r} in {match['field']} (weight {match['weight']}; {themes})"
            )
        for match in why["negatives"]:
            click.echo(f"  - {match['term']!r} in {match['field']} (weight {match['weight']})")
        click.echo(
            f"  kind {why['kind']}, language {why['language'] or '-'},"
            f" countries {', '.join(why['countries']) or '-'}"
        )
        click.echo(f"  tags: {', '.join(member.labels) or '-'}")
