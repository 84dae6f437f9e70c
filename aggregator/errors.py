"""The one exception tree of the package.

    AggregatorError              base of everything we raise on purpose
     ├── ConfigError             feeds.toml is unreadable or invalid (carries every problem)
     ├── FetchError              an HTTP fetch failed (becomes a `Failed` value in fetch.py)
     ├── ParseError              a body is not a usable feed or news page (kind + detail)
     ├── StoreError              the database is unreachable, locked or corrupt
     │    └── LockedError        another pass holds the store's lock
     └── PublishError            an output file could not be written

Third-party exceptions (requests, sqlalchemy, feedparser, OSError on output) are
translated at the module that calls the library, with `raise ... from exc`; the CLI
turns an `AggregatorError` into a one-line message and an exit code.
"""

from __future__ import annotations

from dataclasses import dataclass


class AggregatorError(Exception):
    """Base class for errors the program reports to the operator."""


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One problem in the configuration: where it is, what is wrong, how to fix it."""

    key: str
    message: str
    hint: str = ""
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        text = f"{where}{self.key}: {self.message}"
        return f"{text} (fix: {self.hint})" if self.hint else text


class ConfigError(AggregatorError):
    """The configuration cannot be used; `problems` lists every problem found."""

    def __init__(self, path: str, problems: list[ConfigProblem]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  {path}: {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in {path}:\n{lines}")


class FetchError(AggregatorError):
    """An HTTP fetch failed; fetch.py turns it into a `Failed` outcome."""

    def __init__(self, kind: str, detail: str, http_status: int | None = None) -> None:
        self.kind = kind
        self.detail = detail
        self.http_status = http_status
        super().__init__(detail)


class ParseError(AggregatorError):
    """A body is not a usable feed or news list."""

    def __init__(self, kind: str, detail: str) -> None:
        self.kind = kind
        self.detail = detail
        super().__init__(detail)


class StoreError(AggregatorError):
    """The store cannot be opened, read or written."""


class LockedError(StoreError):
    """Another `run`, `schedule` or `publish` holds the lock on this store."""


class PublishError(AggregatorError):
    """An output file could not be written; previous outputs are left in place."""
