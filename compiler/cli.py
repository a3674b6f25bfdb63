"""The compiler's ``strata`` commands: ``keygen``, ``compile``, ``test``.

``runtime/cli.py`` is the front door that gathers every part's commands; this module only registers
the compiler's (``register``). Running it as ``python -m compiler.cli`` runs the whole command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.cli import UserError

from .errors import CompileError

if TYPE_CHECKING:
    from .pipeline import Context


def _models(ctx: Context) -> str:
    """``, 1 model (purchase_intent spec 1a2b3c4d fit 5e6f7a8b)`` for the compile summary."""
    assert ctx.ruleset is not None
    ms = ctx.ruleset.models
    if not ms:
        return ""
    listed = ", ".join(f"{m.id} spec {m.spec} fit {m.fit}" for m in ms)
    return f", {len(ms)} model{'s' if len(ms) != 1 else ''} ({listed})"


def _print_compile_error(e: CompileError) -> None:
    for d in e.diagnostics:
        print(d.display(), file=sys.stderr)
    n = len(e.diagnostics)
    print(f"{n} error{'s' if n != 1 else ''}", file=sys.stderr)


def _compile_errors(func: Any) -> Any:
    """Print a CompileError's diagnostics (sorted, with source lines) and exit 1."""

    def run(a: argparse.Namespace) -> int:
        try:
            return int(func(a))
        except CompileError as e:
            _print_compile_error(e)
            return 1

    return run


def cmd_keygen(a: argparse.Namespace) -> int:
    from .keys import KeyFileError, keygen

    try:
        priv, pub, kid = keygen(a.out, force=a.force)
    except KeyFileError as e:
        raise UserError(str(e)) from None
    print(f"key id {kid}\nprivate key {priv} (mode 0600; keep it secret)\npublic key  {pub} (give it to edge servers with --pub)")
    return 0


def cmd_compile(a: argparse.Namespace) -> int:
    from .keys import KeyFileError, load_private_key
    from .pipeline import Options, run

    try:
        key = load_private_key(a.key)
    except KeyFileError as e:
        raise UserError(str(e)) from None
    ctx = run(a.ruleset, Options(key=key, strict=a.strict, version=a.version, codec=a.codec))
    for w in ctx.warnings:
        print(w.display(), file=sys.stderr)
    assert ctx.bundle is not None and ctx.payload is not None and ctx.ruleset is not None
    out = Path(a.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(ctx.bundle)
    tmp.replace(out)  # atomic: a server watching the file never sees half a bundle
    rules = sum(len(s.rules) for s in ctx.ruleset.slots)
    total = sum(ctx.timings.values())
    print(f"compiled {ctx.payload['name']} v{ctx.payload['version']}: {len(ctx.ruleset.segments)} segments, "
          f"{len(ctx.ruleset.slots)} slots, {rules} rules{_models(ctx)} -> {out} ({len(ctx.bundle):,} bytes, {total * 1000:.0f} ms)")
    return 0


def cmd_test(a: argparse.Namespace) -> int:
    from .pipeline import Options, run
    from .testing import run_tests

    ctx = run(a.ruleset, Options(strict=a.strict))
    for w in ctx.warnings:
        print(w.display(), file=sys.stderr)
    results = run_tests(ctx)
    failed = 0
    for r in results:
        if r.passed:
            if a.verbose:
                print(f"PASS {r.name}")
        else:
            failed += 1
            print(f"FAIL {r.name} ({a.ruleset}:{r.line})")
            for f in r.failures:
                print(f"     {f}")
    passed = len(results) - failed
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def register(sub: Any) -> None:
    """Add the compiler's commands to the ``strata`` parser (see ``runtime/cli.py``)."""
    k = sub.add_parser("keygen", help="create an Ed25519 signing key pair", description="Create NAME.key (private, mode 0600) and NAME.pub; print the key id.")
    k.add_argument("-o", "--out", default="keys/strata", help="path prefix of the key files (default: keys/strata)")
    k.add_argument("--force", action="store_true", help="overwrite existing key files")
    k.set_defaults(func=cmd_keygen)

    c = sub.add_parser("compile", help="compile a rule set into a signed bundle", description="Check a rule set and write a signed bundle. Errors are printed as file:line:column.")
    c.add_argument("ruleset", help="rule-set YAML file")
    c.add_argument("-k", "--key", required=True, help="private key file from 'strata keygen'")
    c.add_argument("-o", "--output", required=True, help="bundle file to write (replaced atomically)")
    c.add_argument("--strict", action="store_true", help="treat warnings (unreachable rules, unused segments) as errors")
    c.add_argument("--version", dest="version", type=int, help="bundle version (default: the rule set's 'version', else the compile time)")
    c.add_argument("--codec", choices=("xz", "gzip"), default="xz", help="payload compression: xz (default, smallest) or gzip (for CDN workers, which cannot inflate xz)")
    c.set_defaults(func=_compile_errors(cmd_compile))

    t = sub.add_parser("test", help="run the test cases inside a rule set", description="Compile a rule set (unsigned) and run its 'tests:' cases; ends with 'N passed, M failed'.")
    t.add_argument("ruleset")
    t.add_argument("-v", "--verbose", action="store_true", help="also list passing tests")
    t.add_argument("--strict", action="store_true", help="treat warnings as errors")
    t.set_defaults(func=_compile_errors(cmd_test))


if __name__ == "__main__":
    from runtime.cli import main

    sys.exit(main())
