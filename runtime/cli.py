"""``strata``: the front door of the command line. Exit status 0 on success, 1 on a user error
(message on stderr), 2 on bad usage.

The front door knows no part above the runtime: each part registers its commands through the
``strata.commands`` entry-point group (``pyproject.toml``), a function ``register(subparsers)``.
Parts whose dependencies are not installed (``pip install strata-edge`` is the runtime alone)
still list their commands; running one names the extra that installs what it needs.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points
from typing import Any

__all__ = ["UserError", "build_parser", "main"]

#: Entry-point name -> the extra that installs that part's dependencies.
EXTRAS = {"runtime": None, "compiler": "compiler", "server": "server", "train": "train"}

#: Our own packages: a ModuleNotFoundError naming one of them is a bug, not a missing extra.
OWN = {"runtime", "compiler", "edge_server"}


class UserError(Exception):
    """A mistake the user can fix: printed as ``strata: error: ...``, exit status 1."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("strata-edge")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _parts() -> list[Any]:
    """The registered parts, runtime first, in a stable order."""
    found = {ep.name: ep for ep in entry_points(group="strata.commands")}
    order = [n for n in EXTRAS if n in found] + sorted(set(found) - set(EXTRAS))
    return [found[n] for n in order]


def _unavailable(part: str, err: ImportError) -> Any:
    def run(a: argparse.Namespace) -> int:
        raise UserError(_missing_message(a.command, part, err))

    return run


def _missing_message(command: str, part: str, err: ImportError) -> str:
    extra = EXTRAS.get(part) or part
    missing = getattr(err, "name", None) or str(err)
    return f"'strata {command}' needs the [{extra}] extra (missing module {missing}): pip install 'strata-edge[{extra}]'"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="strata",
        description="Strata: edge personalization. Compile YAML+CEL rule sets into signed bundles, test them, decide and serve.",
        epilog="Typical flow: strata keygen -o keys/site; strata test rulesets/site.yaml; "
        "strata compile rulesets/site.yaml -k keys/site.key -o site.bundle; strata verify site.bundle --pub keys/site.pub",
    )
    p.add_argument("--version", action="version", version=f"strata {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for ep in _parts():
        before = set(sub.choices)
        try:
            register = ep.load()
        except ImportError as e:  # the part's own modules need an extra that is not installed
            for name in _KNOWN_COMMANDS.get(ep.name, ()):
                sp = sub.add_parser(name, help=f"(needs the [{EXTRAS.get(ep.name) or ep.name}] extra)")
                sp.set_defaults(func=_unavailable(ep.name, e))
            continue
        register(sub)
        for name in set(sub.choices) - before:
            sub.choices[name].set_defaults(part=ep.name)
    return p


#: The commands each part registers, for listing them when the part cannot even be imported.
_KNOWN_COMMANDS = {"compiler": ("keygen", "compile", "test"), "server": ("serve", "report", "rebalance"), "train": ("train",)}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UserError as e:
        print(f"strata: error: {e}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] in OWN:
            raise
        print(f"strata: error: {_missing_message(args.command, getattr(args, 'part', 'runtime'), e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    # Run the imported module's main: the parts raise runtime.cli.UserError, not __main__.UserError.
    from runtime.cli import main as _main

    sys.exit(_main())
