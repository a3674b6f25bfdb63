"""CEL ``matches``: RE2 syntax and semantics, run by RE2 itself (google-re2) in linear time.

CEL defines ``matches`` with RE2 syntax. Python's ``re`` backtracks: ``^([A-Za-z0-9]+-?)*$``
against 25 characters takes a second and doubles per character. RE2 runs in time linear in the
input for every pattern, and refuses at compile time what it cannot do in linear time
(backreferences, look-around, possessive and atomic groups).

The exact semantics, which every runtime must copy (docs/runtime.md "Regular expressions"):

- the pattern is a constant string (the compiler refuses any other argument; the loader refuses
  a bundle whose ``matches`` has a non-literal or invalid pattern);
- RE2 syntax with RE2's default (Perl-flavoured, not POSIX) options: ``\\d \\s \\w \\b``, flags
  ``(?i) (?m) (?s) (?U)``, non-greedy ``*?``; case-sensitive; ``.`` does not match ``\\n``;
  ``^``/``$`` match only at the start and end of the whole string unless ``(?m)``;
- ``\\C`` (any single byte) is refused: it can split a character, and other RE2 ports lack it;
- the match is an unanchored search over the string's Unicode code points (UTF-8 to RE2):
  ``"hubba".matches("ubb")`` is true; anchor with ``^...$`` for a whole-string match;
- a pattern whose compiled program would exceed ``MAX_MEM`` is refused (RE2's "pattern too
  large"); the result is a bool, so submatches are never extracted (``never_capture``).

Example::

    >>> compile_regex(r"^([A-Za-z0-9]+-?)*$").search("a" * 10_000 + "!")
    False
    >>> regex_error("(a)\\\\1")
    'invalid escape sequence: \\\\1'
"""

from __future__ import annotations

import functools
from typing import Any

import re2
from re2 import _re2  # the pybind11 core: a bool search without re2.Match's offset bookkeeping

from .values import CelError

__all__ = ["MAX_MEM", "Regex", "compile_regex", "regex_error"]

#: RE2's memory budget for one compiled pattern (its default, 8 MiB); a pattern needing more is
#: refused at compile time, so a bundle's regexes cannot exhaust an edge node's memory.
MAX_MEM = 8 << 20


def _options() -> Any:
    o = re2.Options()
    o.max_mem = MAX_MEM
    o.encoding = re2.Options.Encoding.UTF8  # code points, not Latin-1 bytes
    o.posix_syntax = False  # RE2's Perl-flavoured syntax (\d, (?i), non-greedy ...)
    o.longest_match = False  # leftmost-first, as Perl and re2js; a bool result does not depend on it
    o.literal = False
    o.never_nl = False
    o.dot_nl = False
    o.case_sensitive = True
    o.never_capture = True  # a bool needs no submatches; lets RE2 stay in its DFA
    o.log_errors = False  # errors are returned, not printed to stderr
    return o


_OPTIONS = _options()
_UNANCHORED = _re2.RE2.Anchor.UNANCHORED


class Regex:
    """A compiled ``matches`` pattern. ``search(s)`` is CEL's ``s.matches(pattern)``."""

    __slots__ = ("pattern", "_rx")

    def __init__(self, pattern: str, rx: Any) -> None:
        self.pattern = pattern
        self._rx = rx

    def search(self, s: str) -> bool:
        try:
            b = s.encode("utf-8")
        except UnicodeEncodeError:
            raise CelError("matches: the string is not valid Unicode (it holds a lone surrogate)") from None
        return bool(self._rx.Match(_UNANCHORED, b, 0, len(b))[0][0] >= 0)

    def __repr__(self) -> str:
        return f"Regex({self.pattern!r})"


def _has_any_byte_escape(pattern: str) -> bool:
    """True when the pattern uses ``\\C`` (outside ``\\Q...\\E`` literal text)."""
    i, n = 0, len(pattern)
    while i < n - 1:
        if pattern[i] != "\\":
            i += 1
            continue
        nxt = pattern[i + 1]
        if nxt == "C":
            return True
        if nxt == "Q":
            end = pattern.find("\\E", i + 2)
            if end < 0:
                return False
            i = end + 2
            continue
        i += 2
    return False


@functools.lru_cache(maxsize=1024)  # validation, code generation and the exact evaluator share one compile
def _compile(pattern: str) -> tuple[Any, str | None]:
    try:
        encoded = pattern.encode("utf-8")
    except UnicodeEncodeError:
        return None, "the pattern is not valid Unicode (it holds a lone surrogate)"
    if _has_any_byte_escape(pattern):
        return None, "\\C (any byte) is not supported: it can split a character"
    rx = _re2.RE2(encoded, _OPTIONS)
    if not rx.ok():
        err = rx.error()
        return None, err.decode("utf-8", "replace") if isinstance(err, bytes) else str(err)
    return rx, None


def regex_error(pattern: str) -> str | None:
    """RE2's reason for refusing ``pattern`` (e.g. ``missing ]: [a-z``), or None when it is valid."""
    return _compile(pattern)[1]


def compile_regex(pattern: str) -> Regex:
    """Compile a ``matches`` pattern; raises ``CelError`` with RE2's reason when it is invalid."""
    rx, err = _compile(pattern)
    if err is not None:
        raise CelError(f"invalid regular expression {pattern!r}: {err}")
    return Regex(pattern, rx)
