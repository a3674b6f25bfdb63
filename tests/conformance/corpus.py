"""Run the CEL conformance corpus through Strata and classify every case.

    python tests/conformance/corpus.py        # per-file table: passed / refused / wrong

passed  - the expected value, or an evaluation error where the spec expects one;
refused - the compiler rejected the expression (outside Strata's subset, or a syntax the
          cel-python grammar cannot parse); never evaluated;
wrong   - a value other than the expected one, an evaluation error where a value was expected,
          or a value where an error was expected. Must be zero.
"""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
#: The corpus is vendored (tests/conformance/data/README.md: source commit, license), so a plain
#: clone runs the conformance and differential tests with nothing beside it.
CORPUS_DIR = HERE / "data"
CORPUS = CORPUS_DIR / "cel_conformance.json"

#: Cases where the corpus, not the engine, is wrong, with the reason. Strata's answer for each is
#: still checked: it must equal the value given here.
CORPUS_DEFECTS: dict[str, tuple[str, Any]] = {
    "parse/bytes_literals/triple_single_quoted_unescaped_punctuation": (
        "the extracted bytes value keeps the textproto escape '\\?' as a backslash; the identical "
        "string-literal case in the same file expects ' ? \" ' ` ' without it",
        b' ? " \' ` ',
    ),
    "parse/bytes_literals/triple_double_quoted_unescaped_punctuation": (
        "same extraction defect as triple_single_quoted_unescaped_punctuation",
        b' ? " \' ` ',
    ),
}


def _setup() -> None:
    for p in (str(CORPUS_DIR), str(HERE)):
        if p not in sys.path:
            sys.path.insert(0, p)


def classify() -> tuple[dict[str, collections.Counter[str]], list[str]]:
    _setup()
    import cel_engine  # noqa: PLC0415
    from celconf_types import from_tagged, tagged_equal, to_tagged  # noqa: PLC0415

    cases = json.loads(CORPUS.read_text())
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    wrong: list[str] = []
    for c in cases:
        key = f"{c['file']}/{c['section']}/{c['name']}"
        bindings = {k: from_tagged(v) for k, v in c.get("bindings", {}).items()}
        try:
            got = cel_engine.evaluate(c["expr"], bindings, type_env=c.get("type_env"), container=c.get("container"),
                                      disable_check=c.get("disable_check", False))
            outcome, value = "value", got
        except cel_engine.Refused as e:
            outcome, value = "refused", str(e)
        except cel_engine.EvalError as e:
            outcome, value = "error", str(e)
        except Exception as e:  # noqa: BLE001 - a crash is a wrong answer, whatever was expected
            outcome, value = "crash", f"{type(e).__name__}: {e}"
        exp = c["expect"]
        if key in CORPUS_DEFECTS:
            ok = outcome == "value" and value == CORPUS_DEFECTS[key][1]
            counts[c["file"]]["passed" if ok else "wrong"] += 1
            if not ok:
                wrong.append(f"{key}: {c['expr']!r} -> {outcome} {value!r}")
            continue
        if outcome == "refused":
            counts[c["file"]]["refused"] += 1
        elif outcome == "crash":
            counts[c["file"]]["wrong"] += 1
            wrong.append(f"{key}: {c['expr']!r} crashed: {value}")
        elif "error" in exp:
            if outcome == "error":
                counts[c["file"]]["passed"] += 1
            else:
                counts[c["file"]]["wrong"] += 1
                wrong.append(f"{key}: {c['expr']!r} -> {value!r}, expected an error")
        elif outcome == "value" and tagged_equal(to_tagged(value), exp["value"]):
            counts[c["file"]]["passed"] += 1
        else:
            counts[c["file"]]["wrong"] += 1
            wrong.append(f"{key}: {c['expr']!r} -> {outcome} {value!r}, expected {exp['value']}")
    return counts, wrong


def extension_files() -> set[str]:
    cases = json.loads(CORPUS.read_text())
    return {c["file"] for c in cases if c.get("extension")}


def table(counts: dict[str, collections.Counter[str]]) -> str:
    ext = extension_files()
    lines = [f"{'file':16} {'passed':>7} {'refused':>8} {'wrong':>6}"]
    tot: dict[str, collections.Counter[str]] = {"core": collections.Counter(), "extensions": collections.Counter()}
    for f, c in counts.items():
        lines.append(f"{f:16} {c['passed']:7} {c['refused']:8} {c['wrong']:6}")
        tot["extensions" if f in ext else "core"].update(c)
    for name, c in tot.items():
        n = sum(c.values())
        lines.append(f"{name:16} {c['passed']:7} {c['refused']:8} {c['wrong']:6}   ({100 * c['passed'] / max(n, 1):.1f}% passed of {n})")
    return "\n".join(lines)


if __name__ == "__main__":
    counts, wrong = classify()
    print(table(counts))
    for w in wrong:
        print("WRONG", w)
    sys.exit(1 if wrong else 0)
