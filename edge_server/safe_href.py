"""A link as a browser will follow it, by the WHATWG URL rules (edge_worker/worker/safe_href.js is
the worker's port, with the same rules): content links (a block's ``image`` and ``cta.href``) and a
template's ``href``, ``src`` and ``cite`` pass through :func:`safe_href` (edge_server/render.py)."""

from __future__ import annotations

from typing import Any

from ada_url import URL

#: The WHATWG URL parser strips leading and trailing C0 controls and spaces, and removes every ASCII
#: tab and newline anywhere (https://url.spec.whatwg.org/#concept-basic-url-parser), before parsing.
_C0_OR_SPACE = "".join(chr(c) for c in range(0x21))
_TAB_NEWLINE = str.maketrans("", "", "\t\n\r")
#: Absolute links content may carry; everything else (javascript:, data:, vbscript:, blob:...) is refused.
LINK_SCHEMES = frozenset({"http:", "https:", "mailto:"})
#: A stand-in for the page's own URL: a relative link that resolves to another host from it does so
#: from every http(s) page (``//evil.example``, ``/\\evil.example``, ``/<TAB>/evil.example``).
_BASE_HOST = "strata.invalid"
_BASE = f"https://{_BASE_HOST}/page/here"


def safe_href(value: Any) -> str:
    """A link as a browser will follow it, or ``#`` when it could leave the site other than by an
    explicit absolute URL, or run script.

    Decided by the WHATWG URL parser (Ada, the one Node.js uses) on the value as a browser sees it:
    an absolute URL must be http, https or mailto and is returned in its WHATWG serialisation
    (``HTTPS://Shop.Example`` -> ``https://shop.example/``); a relative one must resolve to the
    page's own host (paths, ``?query``, ``#fragment``) and is returned with the characters the
    parser ignores removed. ``//evil.example``, ``/\\evil.example``, ``\\/evil.example`` and
    ``/<TAB>/evil.example`` are scheme-relative after that normalisation: ``#``.
    """
    v = str(value).strip(_C0_OR_SPACE).translate(_TAB_NEWLINE)
    if not v:
        return "#"
    try:
        absolute = URL(v)
    except ValueError:  # no scheme: a relative reference (or nothing a browser can parse)
        pass
    else:
        return absolute.href if absolute.protocol in LINK_SCHEMES else "#"
    try:
        resolved = URL(v, _BASE)
    except ValueError:
        return "#"
    return v if resolved.host == _BASE_HOST else "#"
