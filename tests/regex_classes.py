"""Generated classes of regular expressions RE2 refuses, shared by the compiler's and the runtime's
tests (a rule set must not compile with one; a signed bundle carrying one must not load).

Each pattern is a valid literal prefix + one construct RE2 rejects + a valid literal suffix, so
the refusal comes from the construct wherever it sits. No pattern contains a quote character (the
tests embed them in CEL raw strings).
"""

from __future__ import annotations

from hypothesis import strategies as st

#: Characters of the valid parts: literal letters and digits, nothing with a regex meaning.
_SAFE = "abcxyz019_/"

_simple = st.text(alphabet=_SAFE, min_size=1, max_size=4)


def _wrap(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(lambda a, x, b: a + x + b, st.text(alphabet=_SAFE, max_size=4), inner, st.text(alphabet=_SAFE, max_size=4))


#: The constructs RE2 refuses, each a strategy over its variations.
CONSTRUCTS: dict[str, st.SearchStrategy[str]] = {
    # back-references: matching with them is NP-hard; RE2 has none
    # (a letter follows: RE2 reads \1 followed by a digit as an octal escape)
    "backreference": st.builds(lambda p, n: f"({p})\\{n}x", _simple, st.integers(1, 9)),
    "named_backreference": st.builds(lambda p: f"(?P<g>{p})(?P=g)", _simple),
    # look-around
    "lookahead": st.builds(lambda k, p: f"(?{k}{p})", st.sampled_from(["=", "!"]), _simple),
    "lookbehind": st.builds(lambda k, p: f"(?<{k}{p})", st.sampled_from(["=", "!"]), _simple),
    # atomic groups and possessive quantifiers
    "atomic_group": st.builds(lambda p: f"(?>{p})", _simple),
    "possessive": st.builds(lambda p, q: f"({p}){q}+", _simple, st.sampled_from(["*", "+", "?", "{2}"])),
    # unbalanced groups and classes
    "unclosed_group": st.builds(lambda p, k: "(" * k + p, _simple, st.integers(1, 3)),
    "unopened_group": st.builds(lambda p: p + ")", _simple),
    "unclosed_class": st.builds(lambda p: "[" + p, _simple),
    "reversed_range": st.builds(lambda a, b: f"[{b}-{a}]", st.sampled_from("abcx"), st.sampled_from("yz")),
    # escapes RE2 does not know (Python re knows some of them)
    "bad_escape": st.sampled_from(["\\e", "\\Z", "\\u00e9", "\\N{DASH}", "\\X", "\\R", "\\h", "\\K", "\\G", "\\8", "\\o{1}", "\\x{110000}", "\\p{Nope}"]),
    "any_byte": st.just("\\C"),  # RE2 has it, but it splits characters: refused by Strata
    # repetition RE2 refuses
    "double_repetition": st.builds(lambda a, b: "x" + a + b, st.sampled_from(["*", "+", "?"]), st.sampled_from(["*", "+"])),
    "repetition_too_large": st.builds(lambda n: f"x{{{n}}}", st.integers(1001, 100_000)),
    "nested_repetition_too_large": st.builds(lambda a, b: f"(x{{{a}}}){{{b}}}", st.integers(40, 999), st.integers(40, 999)),
    "dangling_repetition": st.sampled_from(["*", "+", "?", "{2}"]),
    # other Perl syntax
    "comment_group": st.builds(lambda p: f"(?#{p})", _simple),
    "unclosed_flag_group": st.sampled_from(["(?i", "(?", "(?z)"]),
}


def invalid_patterns() -> st.SearchStrategy[str]:
    """Any pattern of any construct above, inside valid literal text."""
    def placed(name: str) -> st.SearchStrategy[str]:
        inner = CONSTRUCTS[name]
        # a dangling repetition must start the pattern (after text it would repeat that text)
        return inner if name == "dangling_repetition" else _wrap(inner)

    return st.sampled_from(sorted(CONSTRUCTS)).flatmap(placed)
