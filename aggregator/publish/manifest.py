"""The manifest of files this program wrote to `output_dir`, and removing stale ones.

`output_dir/.aggregator-manifest.json` lists (sorted, relative to output_dir)
every file the last publish produced. A file that was produced before and is not
produced any more — the feed of a tag with no items left, say — is removed; a file
the manifest does not list is never touched, so whatever an operator keeps in the
folder stays. A manifest entry that is absolute, climbs out of the folder ("..")
or names the manifest itself is ignored.

Crash safety: before any output is written the manifest is rewritten to list both
the previous and the new files, and only after the stale files are gone does it
shrink to the new set. A crash at any point leaves a manifest that lists every
file we may have written, so nothing of ours is orphaned and nothing else is
ever claimed.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from aggregator.errors import PublishError
from aggregator.publish.write import write_if_changed

MANIFEST_NAME = ".aggregator-manifest.json"
MANIFEST_VERSION = "1"

log = logging.getLogger("aggregator")


def _safe(name: object) -> str | None:
    """A relative POSIX path inside the folder, or None."""
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name:
        return None
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or str(path) != name or name == MANIFEST_NAME:
        return None
    return name


def read_manifest(output_dir: Path) -> set[str]:
    """The files the last publish wrote; empty when there is no (readable) manifest."""
    try:
        doc = json.loads((output_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return set()
    except (OSError, ValueError) as exc:
        log.warning("output manifest %s unreadable (%s); no stale file is removed", output_dir, exc)
        return set()
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(files, list):
        return set()
    return {name for name in map(_safe, files) if name is not None}


def render_manifest(files: Iterable[str]) -> bytes:
    doc = {"version": MANIFEST_VERSION, "files": sorted(set(files))}
    return (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def write_manifest(output_dir: Path, files: Iterable[str]) -> bool:
    return write_if_changed(output_dir / MANIFEST_NAME, render_manifest(files))


def remove_stale(output_dir: Path, stale: Iterable[str]) -> list[str]:
    """Delete these files (names from the manifest) and the folders they leave empty."""
    removed = []
    root = output_dir.resolve()
    for name in sorted(stale):
        path = output_dir / name
        try:
            # A symlinked folder could lead outside: the file's folder must stay inside.
            if not path.parent.resolve().is_relative_to(root):
                continue
            if path.is_symlink() or path.is_file():
                path.unlink()
                removed.append(name)
                log.info("removed %s: no longer produced", path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise PublishError(f"cannot remove the stale output {path}: {exc.strerror}") from exc
        folder = path.parent
        while folder != output_dir and folder.resolve().is_relative_to(root):
            try:
                os.rmdir(folder)  # only when empty: an operator's file keeps it
            except OSError:
                break
            folder = folder.parent
    return removed
