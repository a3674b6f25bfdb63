"""An inline ``<style>`` block Strata adds to an origin's page (the ``--debug`` panel) under the
origin's ``Content-Security-Policy``, without breaking or weakening it (docs/security.md, "Page mode
keeps the origin's protections"). The worker's port is edge_worker/worker/csp.js.

For every policy in ``Content-Security-Policy`` and ``Content-Security-Policy-Report-Only`` (several
headers, or several policies in one separated by commas), the directive governing a ``<style>``
element is ``style-src-elem``, else ``style-src``, else ``default-src``:

- none of them, or ``'unsafe-inline'`` without any nonce or hash: the block is allowed as it is;
- a nonce present in every policy that needs one: the block carries that nonce (the policy is unchanged);
- otherwise ``'sha256-…'`` of the block is added to each such directive (a ``default-src`` is
  copied into a new ``style-src-elem`` with the hash): only this exact block becomes allowed, and
  ``'unsafe-inline'`` was already void there, so nothing the origin allowed or refused changes;
- a directive of ``'none'``: the block cannot be allowed without weakening, so it is left out.
"""

from __future__ import annotations

import base64
import hashlib
import re

CSP_HEADERS = ("content-security-policy", "content-security-policy-report-only")
_STYLE_DIRECTIVES = ("style-src-elem", "style-src", "default-src")
#: What separates the tokens of a directive (ASCII whitespace, as in the CSP grammar).
_SPACE = re.compile(r"[\t\n\f\r ]+")


def style_hash(css: str) -> str:
    """The CSP hash source of an inline block: ``'sha256-<base64>'``."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii") + "'"


def _directives(policy: str) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    seen: set[str] = set()
    for part in policy.split(";"):
        tokens = [t for t in _SPACE.split(part) if t]
        if tokens and tokens[0].lower() not in seen:
            seen.add(tokens[0].lower())
            out.append((tokens[0].lower(), tokens[1:]))
    return out


def _serialise(directives: list[tuple[str, list[str]]]) -> str:
    return "; ".join(" ".join([name, *sources]) for name, sources in directives)


def _nonces(sources: list[str]) -> set[str]:
    return {s[7:-1] for s in sources if s.lower().startswith("'nonce-") and s.endswith("'") and len(s) > 8}


def _has_hash(sources: list[str]) -> bool:
    return any(s.lower().startswith(("'sha256-", "'sha384-", "'sha512-")) for s in sources)


def allow_inline_style(headers: list[tuple[str, str]], css: str) -> tuple[bool, str | None, list[tuple[str, str]]]:
    """(allowed, nonce, headers): whether the ``<style>`` block ``css`` may be added, the nonce it
    must carry (or None), and the response headers with any hash added, as the module docstring says."""
    digest = style_hash(css)
    # (header index, policy index within the header, directives, governing directive index or None)
    policies: list[tuple[int, int, list[tuple[str, list[str]]], int | None]] = []
    for i, (k, v) in enumerate(headers):
        if k.lower() not in CSP_HEADERS:
            continue
        for j, text in enumerate(v.split(",")):
            ds = _directives(text)
            names = [n for n, _ in ds]
            governing = next((names.index(n) for n in _STYLE_DIRECTIVES if n in names), None)
            policies.append((i, j, ds, governing))
    needing = []
    for p in policies:
        ds, g = p[2], p[3]
        if g is None:
            continue
        sources = ds[g][1]
        lower = [s.lower() for s in sources]
        if ("'unsafe-inline'" in lower and not _nonces(sources) and not _has_hash(sources)) or digest in sources:
            continue
        needing.append(p)
    if not needing:
        return True, None, headers
    common = set.intersection(*(_nonces(p[2][p[3]][1]) for p in needing if p[3] is not None))
    if common:
        return True, sorted(common)[0], headers
    if any([s.lower() for s in p[2][p[3]][1]] in ([], ["'none'"]) for p in needing if p[3] is not None):
        return False, None, headers
    texts = {i: v.split(",") for i, (_, v) in enumerate(headers)}
    for i, j, ds, g in needing:
        assert g is not None
        name, sources = ds[g]
        if name == "default-src":
            ds = [*ds, ("style-src-elem", [*sources, digest])]
        else:
            ds = [*ds[:g], (name, [*sources, digest]), *ds[g + 1:]]
        texts[i][j] = (" " if j else "") + _serialise(ds)
    return True, None, [(k, ",".join(texts[i]) if k.lower() in CSP_HEADERS else v) for i, (k, v) in enumerate(headers)]
