"""The CEL conformance corpus is the judge of whether Strata's CEL is CEL."""

from __future__ import annotations

import json

import pytest

from tests.conformance import corpus


def test_conformance_corpus_is_vendored():
    assert corpus.CORPUS.exists(), f"the vendored corpus is missing at {corpus.CORPUS}"

#: Corpus sections of the strings extension that personalization rules need
#: (lowerAscii/upperAscii are in ascii_casing).
REQUIRED_STRING_SECTIONS = ("ascii_casing", "split", "replace", "trim", "index_of", "substring", "join")


@pytest.fixture(scope="module")
def classified():
    return corpus.classify()


def test_conformance_no_wrong_answers(classified):
    counts, wrong = classified
    assert not wrong, "wrong answers:\n" + "\n".join(wrong) + "\n" + corpus.table(counts)


def test_conformance_core_pass_rate_at_least_95_percent(classified):
    counts, _ = classified
    ext = corpus.extension_files()
    passed = sum(c["passed"] for f, c in counts.items() if f not in ext)
    total = sum(sum(c.values()) for f, c in counts.items() if f not in ext)
    assert total == 1023
    assert passed / total >= 0.95, corpus.table(counts)


def test_conformance_required_string_functions_all_pass():
    corpus._setup()
    import cel_engine
    from celconf_types import from_tagged, tagged_equal, to_tagged

    cases = [c for c in json.loads(corpus.CORPUS.read_text()) if c["file"] == "string_ext" and c["section"] in REQUIRED_STRING_SECTIONS]
    assert {c["section"] for c in cases} == set(REQUIRED_STRING_SECTIONS)
    assert any("lowerAscii" in c["expr"] for c in cases) and any("upperAscii" in c["expr"] for c in cases)
    for c in cases:
        bindings = {k: from_tagged(v) for k, v in c.get("bindings", {}).items()}
        if "error" in c["expect"]:
            with pytest.raises(cel_engine.EvalError):
                cel_engine.evaluate(c["expr"], bindings, type_env=c.get("type_env"), disable_check=c["disable_check"])
        else:
            got = cel_engine.evaluate(c["expr"], bindings, type_env=c.get("type_env"), disable_check=c["disable_check"])
            assert tagged_equal(to_tagged(got), c["expect"]["value"]), c["expr"]
