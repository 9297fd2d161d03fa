"""docs/cli.md: the `--help` of `placecat` and of every command, written out as one page.

    .venv/bin/python -m pipelines.cli_reference > docs/cli.md      (or: make docs)

The page is generated, never edited by hand: ``tests/test_docs.py`` fails when it differs from
what the commands print, so the reference cannot go stale. Help is rendered 100 columns wide
whatever the terminal.
"""
from __future__ import annotations

import os
import sys

from pipelines.cli import available_commands, build_parser

WIDTH = "100"


def render() -> str:
    """The whole page, Markdown."""
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        parser = build_parser()
        parts = ["# The `placecat` command\n",
                 "Generated from `placecat --help` and `placecat COMMAND --help` by "
                 "`python -m pipelines.cli_reference` (`make docs`); `tests/test_docs.py` fails when this page is "
                 "stale. The same text is what each command prints with `--help`.\n",
                 "```\n" + parser.format_help().rstrip() + "\n```\n"]
        for name in available_commands():
            parts.append(f"## placecat {name}\n")
            parts.append("```\n" + parser.command_parsers[name].format_help().rstrip() + "\n```\n")
        return "\n".join(parts)
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous


if __name__ == "__main__":
    sys.stdout.write(render())
