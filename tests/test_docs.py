"""Docs stay true: every command and every config key is documented."""

from __future__ import annotations

import click

from aggregator.cli import main
from aggregator.config import documented_keys

from .conftest import REPO


def test_every_command_is_documented() -> None:
    text = (REPO / "docs" / "CLI.md").read_text(encoding="utf-8")
    assert main.commands, "no commands registered"
    for name, command in main.commands.items():
        assert f"`aggregator {name}`" in text, name
        if isinstance(command, click.Group):  # and every subcommand: `aggregator opml import`
            assert command.commands, name
            for sub in command.commands:
                assert f"`aggregator {name} {sub}`" in text, f"{name} {sub}"


def test_every_command_has_help_with_an_example() -> None:
    def walk(group: click.Group, prefix: str) -> list[tuple[str, click.Command]]:
        found: list[tuple[str, click.Command]] = []
        for name, command in group.commands.items():
            found.append((prefix + name, command))
            if isinstance(command, click.Group):
                found += walk(command, f"{prefix}{name} ")
        return found

    for name, command in walk(main, ""):
        assert "Example" in (command.help or ""), name


def test_every_config_key_is_documented() -> None:
    text = (REPO / "docs" / "CONFIG.md").read_text(encoding="utf-8")
    for table, keys in documented_keys().items():
        for key in keys:
            assert f"`{key}`" in text, f"{table}.{key}"


def test_readme_quick_start_is_make_demo_and_make_test() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert "make demo" in text and "make test" in text
