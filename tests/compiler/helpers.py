"""Helpers for compiler tests: compile YAML text as if it were a file; the strata command's parsers."""

from __future__ import annotations

import argparse

from compiler.errors import CompileError, Diagnostic
from compiler.pipeline import Context, Options, run
from runtime.cli import build_parser

BASE = """\
strata: 1
name: shop
segments:
  - id: mobile
    layer: broad
    when: device.type == "mobile"
slots:
  - id: hero
    default: {headline: Hi}
    rules:
      - id: small
        segment: mobile
        content: {headline: Small}
"""


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
