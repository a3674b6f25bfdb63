"""The bundle format's tables (runtime/format.json) are defined once: runtime/format.py exports
exactly them, and no source of either language keeps a copy by hand (edge_worker/test/format.test.js
checks the JavaScript module's exports the same way)."""

from __future__ import annotations

import json

from runtime import format as fmt
from tests.contract_scan import copies

TABLE = json.loads(fmt.PATH.read_text(encoding="utf-8"))

#: The modules that check the table's limits and buckets: a limit written there as a number is a copy.
CHECKERS = ("runtime/validate.py", "edge_worker/runtime/validate.js", "runtime/bounds.py", "edge_worker/runtime/bounds.js",
            "runtime/verify.py", "edge_worker/runtime/verify.js", "runtime/bucketing.py", "edge_worker/runtime/bucketing.js",
            "compiler/encode.py", "compiler/models.py", "runtime/score.py", "edge_worker/runtime/score.js", "runtime/budget.py",
            "edge_worker/runtime/budget.js", "runtime/signals.py", "edge_worker/runtime/signals.js", "compiler/cost.py", "runtime/codegen.py",
            "edge_worker/runtime/interp.js")


def test_format_exports_every_limit_of_the_table_and_no_other() -> None:
    limits = {name: entry["value"] for name, entry in TABLE["limits"].items()}
    exported = {name: getattr(fmt, name) for name in dir(fmt) if name.startswith("MAX_")}
    # the one derived bound: the longest allocation period of MAX_VARIANTS variants
    assert exported.pop("MAX_PERIOD") == fmt.period_length(fmt.MAX_VARIANTS) == 6 * fmt.MAX_VARIANTS - 1
    assert exported == limits
    assert all(type(exported[n]) is type(v) for n, v in limits.items())  # MAX_COEFFICIENT stays a float


def test_format_opcodes_and_arities_are_the_tables() -> None:
    ops = {name: getattr(fmt.Op, name) for name in vars(fmt.Op) if name.isupper()}
    assert ops == {op["name"]: op["code"] for op in TABLE["ops"]}
    assert sorted(ops.values()) == list(range(len(ops)))  # dense: validation indexes by opcode
    assert fmt.ARITY == {op["code"]: tuple(op["arity"]) if isinstance(op["arity"], list) else op["arity"] for op in TABLE["ops"]}


def test_format_lists_are_the_tables() -> None:
    assert fmt.LAYERS == tuple(TABLE["layers"]["values"])
    assert fmt.CATEGORIES == tuple(TABLE["categories"]["values"])
    assert fmt.COMPREHENSIONS == tuple(TABLE["comprehensions"])
    assert fmt.FEATURE_KINDS == tuple(TABLE["feature_kinds"])
    assert fmt.CODECS == tuple(TABLE["codecs"])
    assert (fmt.FORMAT_VERSION, fmt.FORMAT_CODEC) == (TABLE["formats"]["FORMAT_VERSION"], TABLE["formats"]["FORMAT_CODEC"])
    assert fmt.SIGNATURE_DOMAIN == b"strata-bundle-v1\x00" and fmt.SIGNATURE_DOMAIN_V2 == b"strata-bundle-v2\x00"
    assert fmt.BUCKETS == TABLE["BUCKETS"]["value"]
    assert fmt.SCORE_BUCKETS._asdict() == {k: v for k, v in TABLE["SCORE_BUCKETS"].items() if k != "doc"}
    assert fmt.UPLIFT_BUCKETS._asdict() == {k: v for k, v in TABLE["UPLIFT_BUCKETS"].items() if k != "doc"}
    assert fmt.TEMPLATE_TAGS == set(TABLE["template"]["tags"])
    assert fmt.TEMPLATE_ATTRIBUTES == {k: set(v) for k, v in TABLE["template"]["attributes"].items()}
    assert fmt.FIELDS == {k: set(v) for k, v in TABLE["fields"].items() if k != "doc"}
    runtime = {k: v["value"] for k, v in TABLE["runtime"].items() if k.isupper()}
    assert {k: getattr(fmt, k) for k in runtime} == runtime and fmt.GROWTH_COSTS == set(TABLE["runtime"]["growth_costs"]["values"])


def test_runtime_modules_apply_the_tables_runtime_constants() -> None:
    """The budget, verification and signal bounds are the table's, as their modules export them."""
    from runtime import budget, signals, verify

    assert (budget.EVAL_BUDGET, budget.ALLOC_CHUNK) == (TABLE["runtime"]["EVAL_BUDGET"]["value"], TABLE["runtime"]["ALLOC_CHUNK"]["value"])
    assert budget.GROWTH == {"_+_", "join", "split", "replace"}  # the catalogue's functions of the growth cost classes
    assert (signals.DEFAULT_MAX_ITEMS, signals.DEFAULT_MAX_LENGTH, signals.CLIENT_BODY_BYTES) == (100, 1024, 16 * 1024)
    assert verify.DEFAULT_CLOCK_SKEW == TABLE["runtime"]["DEFAULT_CLOCK_SKEW"]["value"]


def test_format_limits_keep_their_relations() -> None:
    """What the docs promise between limits: payload depth twice the IR nesting, a level index in a byte."""
    assert fmt.MAX_PAYLOAD_DEPTH == 2 * fmt.MAX_NESTING
    assert fmt.MAX_FEATURE_ARGS + 2 == fmt.MAX_LEVELS <= 256


def test_no_source_keeps_a_copy_of_the_format_table() -> None:
    found = copies(TABLE, ("runtime/format.py", "edge_worker/runtime/format.js"), CHECKERS)
    assert not found, "read these from runtime/format.py or edge_worker/runtime/format.js:\n" + "\n".join(found)


def test_contract_scan_reports_each_kind_of_copy() -> None:
    """The scan can fail: a reordered list, a name assigned a literal and a bucket count written out
    are each reported; a figure in a comment or docstring and another constant's value are not."""
    files = {
        "a.py": '"""Into 10000 buckets."""\nLAYERS = ("mid", "broad", "specific")\nif end <= 10_000:  # 10000\n    pass\n',
        "b.js": "const MAX_NESTING = 64;\n// 10000 buckets\nconst kinds = ['edges', 'values', 'cross', 'contains'];\n",
        "c.py": "RETRIES = 10_000\nx = ('all', 'exists', 'exists_one')\n",
    }
    found = copies(TABLE, (), ("a.py", "b.js"), files)
    assert found == [
        "a.py:2: the list 'broad', 'mid', 'specific'... written out",
        "a.py:2: LAYERS assigned a literal",
        "a.py:3: 10_000 (EVAL_BUDGET/BUCKETS) written as a literal",
        "b.js:3: the list 'values', 'edges', 'contains'... written out",
        "b.js:1: MAX_NESTING assigned a literal",
    ]
