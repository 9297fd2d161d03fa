"""The `placecat` command. Each subcommand lives beside the code it drives; this file only
dispatches. `placecat --help` and `placecat COMMAND --help` are the reference documentation."""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

# command -> (module, one-line help). A module provides configure_parser(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("pipelines.nightly_run", "run the whole nightly job in-process and print a summary"),
    "validate": ("connectors.validate", "check an ORUK feed the way the ORUK validator does"),
    "match": ("dedupe.match_cli", "match ORUK v3 service objects from a JSON Lines file into clusters"),
    "explain": ("dedupe.explain", "say in plain words why the records of a golden service were merged"),
    "review": ("dedupe.review", "work through the review queue; decisions go to the overrides file"),
    "mapping": ("connectors.mapping_cli", "spreadsheet mappings: `placecat mapping suggest FILE`"),
    "health": ("quality.health", "print the latest feed-health scorecard"),
    "reference": ("warehouse.reference", "load postcode, deprivation and population reference data"),
    "report": ("warehouse.report", "write a self-contained HTML gap-analysis report"),
    "serve": ("warehouse.serve", "serve the catalogue as a read-only ORUK v3 API"),
    "export": ("warehouse.export", "export the catalogue as a static API, a tabular data package and Parquet"),
}


def available_commands() -> dict[str, tuple[str, str]]:
    """The commands whose module is installed (all of them in a release)."""
    out = {}
    for name, (module, help_text) in COMMANDS.items():
        if importlib.util.find_spec(module) is not None:
            out[name] = (module, help_text)
    return out


def build_parser(load: set[str] | None = None) -> argparse.ArgumentParser:
    """The parser. Only the commands in ``load`` (all when None) import their module, so a
    problem in one command's dependencies never stops the others (above all `run`) from starting."""
    parser = argparse.ArgumentParser(
        prog="placecat",
        description="Turn England's scattered directories of local services into one deduplicated ORUK place catalogue.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in available_commands().items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if load is None or name in load:
            mod = importlib.import_module(module)
            p.description = (mod.__doc__ or help_text).strip().splitlines()[0]
            mod.configure_parser(p)
            p.set_defaults(_module=mod)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(load={chosen} if chosen else set())
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    return args._module.run(args)


if __name__ == "__main__":
    sys.exit(main())
