"""Append a `[[sources]]` block to feeds.toml, keeping every existing byte.

Purpose: `aggregator add` and `aggregator opml import` write the configuration an
operator otherwise edits by hand, so the file's comments, order and formatting must
survive untouched. The block is appended (the old content stays a byte-for-byte
prefix of the new file), then the whole file is validated by the config loader; if
that fails the original bytes are written back. Values are quoted here as TOML
basic strings, with every character TOML requires escaped; no TOML library is
needed for that.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from aggregator.errors import ConfigError, ConfigProblem

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
Value = str | Sequence[str] | Mapping[str, str | bool]

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def toml_string(value: str) -> str:
    """`value` as a TOML basic string (TOML 1.0 §String)."""
    out = []
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def toml_key(key: str) -> str:
    """A bare key when TOML allows one (A-Za-z0-9_-), else a quoted key (TOML 1.0 §Keys)."""
    return key if _BARE_KEY.fullmatch(key) else toml_string(key)


def toml_value(value: Value | bool) -> str:
    """A string, a list of strings, or an inline table (`html = { item = "li", … }`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, Mapping):
        pairs = (f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + ", ".join(pairs) + " }"
    return "[" + ", ".join(toml_string(v) for v in value) + "]"


def source_block(
    fields: Sequence[tuple[str, Value]], *, comment: str = "", newline: str = "\n"
) -> str:
    """A `[[sources]]` table with `fields` in order, preceded by an optional comment."""
    lines = [f"# {line}".rstrip() for line in comment.splitlines()]
    lines.append("[[sources]]")
    lines += [f"{key} = {toml_value(value)}" for key, value in fields]
    return newline.join(lines) + newline


def newline_of(text: bytes) -> str:
    """The file's own line ending, so the appended block matches it."""
    return "\r\n" if b"\r\n" in text else "\n"


def appended(original: bytes, block: str) -> bytes:
    """`original` + a separating blank line + `block` (the original is a prefix)."""
    newline = newline_of(original)
    separator = ""
    if original:
        separator = newline if original.endswith(b"\n") else newline * 2
    return original + (separator + block).encode("utf-8")


def append_source(path: Path, block: str, verify: Callable[[Path], None]) -> bytes:
    """Append `block` to `path`, then `verify(path)`; restore the original on failure.

    Returns the original bytes. Raises ConfigError (file restored) when `verify`
    raises it, and ConfigError for a file that cannot be read or written.
    """
    try:
        original = path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), [ConfigProblem("(file)", f"cannot read: {exc}")]) from exc
    addition = appended(original, block)[len(original) :]
    try:
        with path.open("ab") as handle:  # append: the existing bytes are never rewritten
            handle.write(addition)
    except OSError as exc:
        _restore(path, original)
        raise ConfigError(str(path), [ConfigProblem("(file)", f"cannot write: {exc}")]) from exc
    try:
        verify(path)
    except ConfigError:
        _restore(path, original)
        raise
    return original


def _restore(path: Path, original: bytes) -> None:
    path.write_bytes(original)
