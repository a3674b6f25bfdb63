"""CEL ``matches`` on RE2 (runtime/regex.py): linear time on the classic catastrophic-backtracking
patterns, the documented option set, and refusal of patterns RE2 rejects when a bundle loads.

The catastrophic class is generated (pattern shape x character class x adversarial input of
10-50 KB) and evaluated through a real compiled, signed and loaded bundle, on both evaluators (the
generated fast path and the exact one); each shape comes with a non-regex oracle. Under Python's
``re`` these inputs take hours to years (``^([A-Za-z0-9]+-?)*$`` doubles per character); the test
asserts results only, never time (benchmarks/runtime_bench.py measures speed).
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from compiler.harness.bundles import make_bundle
from compiler.harness.fixtures import CREATED
from runtime import InvalidIR, Runtime, key_id
from runtime.decide import Prepared
from runtime.format import Op
from runtime.regex import compile_regex, regex_error
from runtime.values import CelError
from tests.regex_classes import invalid_patterns
from tests.runtime.test_verify import payload_of, resign

NOW = CREATED + 60
SIGNAL = "probe.text"


def probe_ruleset(pattern: str) -> str:
    """A rule set whose segment ``hit`` is ``probe.text.matches(r"<pattern>")`` (no quotes in it)."""
    assert '"' not in pattern and "'" not in pattern
    return f"""\
strata: 1
name: probe
signals:
  {SIGNAL}: {{type: string, category: contextual, max_length: 65536}}
segments:
  - id: hit
    layer: broad
    when: 'probe.text.matches(r"{pattern}")'
slots:
  - id: s
    default: {{headline: no}}
    rules:
      - id: r
        segment: hit
        content: {{headline: yes}}
"""


def load(text: str, key: Ed25519PrivateKey) -> Prepared:
    rt = Runtime({key_id(key.public_key()): key.public_key()})
    return rt.load(make_bundle(text, key), now=NOW)


def both_evaluators(p: Prepared, value: str) -> tuple[Any, Any]:
    """The segment's value from the generated fast function and from the exact evaluator."""
    s, dropped = p.prepare_signals({SIGNAL: value}, consent=True)
    assert not dropped
    fast = p.segments[0].fast(s, {})
    exact = p.segments[0].exact(s, {}, ())
    return fast, exact


# ------------------------------------------------------------------ catastrophic backtracking
@dataclass(frozen=True)
class CharClass:
    regex: str  # as written in the pattern
    chars: str  # every character it matches that inputs draw from (a subset is fine for inputs)
    members: Callable[[str], bool]


CLASSES = [
    CharClass("a", "a", lambda c: c == "a"),
    CharClass("[ab]", "ab", lambda c: c in "ab"),
    CharClass("[A-Za-z0-9]", string.ascii_letters + string.digits, lambda c: c.isascii() and c.isalnum()),
    CharClass("[a-z]", string.ascii_lowercase, lambda c: "a" <= c <= "z"),
    CharClass("\\d", string.digits, lambda c: "0" <= c <= "9"),  # RE2's \d is ASCII only
    CharClass("[é😀x]", "é😀x", lambda c: c in "é😀x"),  # multi-byte code points: one character each
]


def _all_in(cc: CharClass, s: str) -> bool:
    return all(cc.members(c) for c in s)


def _dashed(cc: CharClass, s: str) -> bool:
    """The language of ^(C+-?)*$ : empty, or starts with C, only C and '-', no '--'."""
    return s == "" or (cc.members(s[0]) and all(cc.members(c) or c == "-" for c in s) and "--" not in s)


def _c_then_bang(cc: CharClass, s: str) -> bool:
    return any(s[i] == "!" and cc.members(s[i - 1]) for i in range(1, len(s)))


#: (pattern template with C for the class, oracle). '-', '!' and newline are in no class.
SHAPES: list[tuple[str, Callable[[CharClass, str], bool]]] = [
    ("^(C+)+$", lambda cc, s: s != "" and _all_in(cc, s)),  # nested quantifiers
    ("^(C*)*$", _all_in),
    ("^(C|C)*$", _all_in),  # overlapping alternation
    ("^(C|CC)+$", lambda cc, s: s != "" and _all_in(cc, s)),
    ("^(C+)*C+$", lambda cc, s: s != "" and _all_in(cc, s)),
    ("^(C+-?)*$", _dashed),  # the author pattern
    ("(C+)+!", _c_then_bang),  # unanchored search: every start position is a new attempt
]


@st.composite
def catastrophic_cases(draw: st.DrawFn) -> tuple[str, str, bool]:
    """(pattern, adversarial input of 10-50 KB, expected result from the oracle)."""
    cc = draw(st.sampled_from(CLASSES))
    template, oracle = draw(st.sampled_from(SHAPES))
    pattern = template.replace("C", cc.regex)
    unit = draw(st.text(alphabet=cc.chars, min_size=1, max_size=8))
    if template == "^(C+-?)*$":
        unit += draw(st.sampled_from(["", "-"]))
    n = draw(st.integers(10_000, 50_000))
    body = (unit * (n // len(unit) + 1))[:n]
    # The classic killer: a long run the pattern almost matches, then one character it cannot.
    tail = draw(st.sampled_from(["", "!", "-", "--", "\n", "!x", "?"]))
    head = draw(st.sampled_from(["", "-", "!"]))
    text = head + body + tail
    return pattern, text, oracle(cc, text)


@st.composite
def counted_cases(draw: st.DrawFn) -> tuple[str, str, bool]:
    """``(.*x){k}``: polynomial O(n^k) backtracking when fewer than k x's are on one line."""
    k = draw(st.integers(2, 12))
    have = draw(st.integers(max(0, k - 2), k + 1))
    n = draw(st.integers(10_000, 50_000))
    filler = draw(st.sampled_from(["y", "yz", "é", "\n"]))
    xs = "x" * have
    text = xs + (filler * n)[:n]
    expected = max(line.count("x") for line in text.split("\n")) >= k  # '.' never matches a newline
    return f"(.*x){{{k}}}", text, expected


SLOW_SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def check_through_bundle(key: Ed25519PrivateKey, pattern: str, text: str, expected: bool) -> None:
    p = load(probe_ruleset(pattern), key)
    fast, exact = both_evaluators(p, text)
    assert fast is expected, (pattern, len(text))
    assert exact is expected, (pattern, len(text))
    assert p.decide({SIGNAL: text}).decisions["s"].reason == ("rule" if expected else "default")


@settings(SLOW_SETTINGS, max_examples=50)
@given(case=catastrophic_cases())
@example(case=("^([A-Za-z0-9]+-?)*$", "a" * 24 + "!", False))  # the issue's: a second under re
@example(case=("^([A-Za-z0-9]+-?)*$", "ab-" * 3_400 + "!", False))  # 10 KB: 2^3400 paths under re
def test_regex_catastrophic_patterns_finish_with_the_oracles_answer(key: Ed25519PrivateKey, case: tuple[str, str, bool]) -> None:
    check_through_bundle(key, *case)


@settings(SLOW_SETTINGS, max_examples=15)
@given(case=counted_cases())
def test_regex_counted_repetition_finishes_with_the_oracles_answer(key: Ed25519PrivateKey, case: tuple[str, str, bool]) -> None:
    check_through_bundle(key, *case)


@settings(max_examples=300, deadline=None)
@given(
    cc=st.sampled_from(CLASSES),
    shape=st.sampled_from(SHAPES),
    text=st.text(alphabet="ab0Zé😀x-!\n", max_size=12),
)
def test_regex_short_inputs_agree_with_the_oracles(cc: CharClass, shape: tuple[str, Callable[[CharClass, str], bool]], text: str) -> None:
    """The oracles above are the reference: on short mixed inputs RE2 (through the runtime's
    options) agrees with them, so the long-input test checks the right answers."""
    template, oracle = shape
    assert compile_regex(template.replace("C", cc.regex)).search(text) is oracle(cc, text)


# ------------------------------------------------------------------ the documented option set
@pytest.mark.parametrize(
    "pattern,text,expected",
    [
        ("ubb", "hubba", True),  # unanchored search
        ("^ubb", "hubba", False),
        ("^a$", "a\n", False),  # $ is the end of the text, not before a final newline (Python re says True)
        ("(?m)^b$", "a\nb\nc", True),  # multi-line only on request
        ("a\\nb", "a\nb", True),  # a pattern may match across a newline (never_nl is off)
        ("a.c", "a\nc", False),  # . does not match a newline ...
        ("(?s)a.c", "a\nc", True),  # ... unless (?s)
        ("A", "a", False),  # case-sensitive ...
        ("(?i)A", "a", True),  # ... unless (?i)
        ("^.$", "😀", True),  # one code point, not bytes or UTF-16 units
        ("^.{3}$", "mañ", True),
        ("\\w", "é", False),  # \w, \d, \s are ASCII (RE2), unlike Python re
        ("\\pL", "é", True),  # Unicode classes by name
        ("^[[:alpha:]]+$", "abc", True),
        ("a+?", "aaa", True),  # non-greedy accepted (the result is a bool either way)
        ("\\Qa.b\\E", "a.b", True),
        ("\\Qa.b\\E", "axb", False),
        ("", "", True),
    ],
)
def test_regex_semantics_follow_the_documented_options(pattern: str, text: str, expected: bool) -> None:
    assert compile_regex(pattern).search(text) is expected


def test_regex_any_byte_escape_is_refused_but_quoted_text_is_not() -> None:
    assert regex_error("a\\Cb") is not None
    assert regex_error("\\Qa\\Cb\\E") is None  # literal text between \Q and \E
    assert regex_error("\\\\C") is None  # an escaped backslash followed by C


def test_regex_lone_surrogate_in_the_string_is_a_cel_error() -> None:
    with pytest.raises(CelError, match="not valid Unicode"):
        compile_regex("a").search("a\ud800")


# ------------------------------------------------------------------ refused at load
def _placeholder_payload(key: Ed25519PrivateKey) -> dict[str, Any]:
    p = payload_of(make_bundle(probe_ruleset("PLACEHOLDER"), key))
    when = p["segments"][0]["when"]
    assert when[0] == Op.CALL and when[1] == "matches" and when[4] == [Op.LIT, "PLACEHOLDER"], when
    return p


@settings(max_examples=150, deadline=None)
@given(pattern=invalid_patterns())
def test_regex_bundle_with_pattern_re2_rejects_is_invalid_ir(key: Ed25519PrivateKey, pattern: str) -> None:
    """The compiler never writes such a bundle (tests/compiler/test_check.py); a signed one from a
    buggy compiler is refused when loaded, naming the pattern and RE2's reason."""
    p = _placeholder_payload(key)
    p["segments"][0]["when"][4] = [Op.LIT, pattern]
    rt = Runtime({key_id(key.public_key()): key.public_key()})
    with pytest.raises(InvalidIR, match="segments\\[0\\].when: invalid regular expression"):
        rt.load(resign(p, key), now=NOW)
    assert rt.current is None


@pytest.mark.parametrize(
    "pattern_ir",
    [
        [Op.SIG, 0],  # a signal: visitor-controlled
        [Op.CALL, "_+_", "string,string", [Op.LIT, "^"], [Op.SIG, 0]],
        [Op.LIT, 7],
        [Op.LIT, None],
    ],
    ids=["signal", "concatenation", "int_literal", "null_literal"],
)
def test_regex_bundle_with_non_literal_pattern_is_invalid_ir(key: Ed25519PrivateKey, pattern_ir: list[Any]) -> None:
    p = _placeholder_payload(key)
    p["segments"][0]["when"][4] = pattern_ir
    rt = Runtime({key_id(key.public_key()): key.public_key()})
    with pytest.raises(InvalidIR, match="the pattern of matches must be a string literal"):
        rt.load(resign(p, key), now=NOW)


def test_regex_bundle_with_matches_of_wrong_arity_is_invalid_ir(key: Ed25519PrivateKey) -> None:
    p = _placeholder_payload(key)
    p["segments"][0]["when"] = [Op.CALL, "matches", "string", [Op.SIG, 0]]
    rt = Runtime({key_id(key.public_key()): key.public_key()})
    with pytest.raises(InvalidIR, match="matches takes a string and a pattern"):
        rt.load(resign(p, key), now=NOW)
