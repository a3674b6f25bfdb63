"""Helpers for compiler tests: compile YAML text as if it were a file; the strata command's parsers.
(BASE, the minimal rule set, is a shared fixture: compiler/harness/fixtures.py.)"""

from __future__ import annotations

import argparse

from compiler.errors import CompileError, Diagnostic
from compiler.harness.fixtures import BASE
from compiler.pipeline import Context, Options, run
from runtime.cli import build_parser

__all__ = ["BASE", "compile_text", "errors_of", "subcommand_parsers"]


def compile_text(text: str, *, path: str = "rs.yaml", strict: bool = False) -> Context:
    return run(path, Options(strict=strict), text=text)


def errors_of(text: str, **kw: object) -> list[Diagnostic]:
    try:
        compile_text(text, **kw)  # type: ignore[arg-type]
    except CompileError as e:
        return e.diagnostics
    raise AssertionError("expected a CompileError")


def subcommand_parsers() -> dict[str, argparse.ArgumentParser]:
    """The parser of each ``strata`` command, by name (for tests that compare them with the docs)."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)
