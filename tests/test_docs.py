"""Docs stay true: every command and every config key is documented."""

from __future__ import annotations

from aggregator.cli import main
from aggregator.config import documented_keys

from .conftest import REPO


def test_every_command_is_documented() -> None:
    text = (REPO / "docs" / "CLI.md").read_text(encoding="utf-8")
    assert main.commands, "no commands registered"
    for name in main.commands:
        assert f"`aggregator {name}`" in text, name


def test_every_config_key_is_documented() -> None:
    text = (REPO / "docs" / "CONFIG.md").read_text(encoding="utf-8")
    for table, keys in documented_keys().items():
        for key in keys:
            assert f"`{key}`" in text, f"{table}.{key}"


def test_readme_quick_start_is_make_demo_and_make_test() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert "make demo" in text and "make test" in text
