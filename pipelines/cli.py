"""The `placecat` command. Each subcommand lives beside the code it drives; this file only
dispatches. `placecat --help` and `placecat COMMAND --help` are the reference documentation."""
from __future__ import annotations

import argparse
import importlib
import sys

# command -> (module, one-line help). A module provides configure_parser(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("pipelines.nightly_run", "run the whole nightly job in-process and print a summary"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="placecat",
        description="Turn England's scattered directories of local services into one deduplicated ORUK place catalogue.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_text, description=(mod.__doc__ or help_text).strip().splitlines()[0])
        mod.configure_parser(p)
        p.set_defaults(_module=mod)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    return args._module.run(args)


if __name__ == "__main__":
    sys.exit(main())
