"""The `placecat` command. Each subcommand lives beside the code it drives; this file only
dispatches. `placecat --help` and `placecat COMMAND --help` are the reference documentation."""
from __future__ import annotations

import argparse
import contextlib
import csv
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

from warehouse.state import NoCatalogue


def _command_table() -> dict[str, tuple[str, str]]:
    """command -> (module, one-line help), in the order `placecat --help` lists them, from
    commands.csv beside this file. A module provides configure_parser(parser) and run(args) -> int."""
    with (Path(__file__).parent / "commands.csv").open(encoding="utf-8", newline="") as f:
        return {row["command"]: (row["module"], row["help"]) for row in csv.DictReader(f)}


COMMANDS = _command_table()


def available_commands() -> dict[str, tuple[str, str]]:
    """The commands whose module is installed (all of them in a release)."""
    out = {}
    for name, (module, help_text) in COMMANDS.items():
        if importlib.util.find_spec(module) is not None:
            out[name] = (module, help_text)
    return out


class OneLineParser(argparse.ArgumentParser):
    """A mistake on the command line is one line (what is wrong and where to read more), exit 2,
    like every other user mistake; argparse's default prints the whole usage first."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message}; see `{self.prog} --help`\n")


def build_parser(load: set[str] | None = None) -> argparse.ArgumentParser:
    """The parser. Only the commands in ``load`` (all when None) import their module, so a
    problem in one command's dependencies never stops the others (above all `run`) from starting."""
    parser = OneLineParser(
        prog="placecat",
        description="Turn England's scattered directories of local services into one deduplicated ORUK place catalogue.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in available_commands().items():
        p = sub.add_parser(name, help=help_text, description=help_text,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        if load is None or name in load:
            mod = importlib.import_module(module)
            # The module's docstring is the command's full reference: `placecat NAME --help` prints
            # all of it, and docs/cli.md is generated from that (pipelines/cli_reference.py).
            p.description = inspect.cleandoc(mod.__doc__) if mod.__doc__ else help_text
            mod.configure_parser(p)
            p.set_defaults(_module=mod)
    parser.command_parsers = sub.choices  # name -> its parser (for pipelines/cli_reference.py)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(load={chosen} if chosen else set())
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return args._module.run(args)
    except NoCatalogue as exc:
        print(f"placecat {args.command}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, never a traceback
        line = file_problem(args, exc)
        if line is None:
            raise
        print(f"placecat {args.command}: {line}", file=sys.stderr)
        return 2


def _files_named(args: argparse.Namespace) -> list[str]:
    """The files named on the command line that exist (to say which one is at fault)."""
    out = []
    for key, value in vars(args).items():
        if key.startswith("_") or not isinstance(value, (str, Path)) or key == "out":
            continue
        with contextlib.suppress(OSError, ValueError):
            if Path(value).is_file():
                out.append(str(value))
    return out


def file_problem(args: argparse.Namespace, exc: BaseException) -> str | None:
    """One line for a damaged, unreadable or undecodable file met while a command ran (the
    commands name the files they expect to be missing; this catches what is damaged inside), or
    None when the exception is not about a file."""
    import duckdb

    first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
    db = getattr(args, "db", None)
    if isinstance(exc, duckdb.Error):
        where = db or "the catalogue"
        return (f"{where}: damaged or unreadable DuckDB file ({first}); restore the newest good catalogue "
                f"with `placecat recover --db {where}`")
    files = _files_named(args)
    named = files[0] if len(files) == 1 else (", ".join(files) or "a file given")
    if isinstance(exc, UnicodeDecodeError):
        return f"{named}: not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8"
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or first}"
    return None


if __name__ == "__main__":
    sys.exit(main())
