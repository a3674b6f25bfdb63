"""Content blocks -> HTML (docs/server.md, "Rendering", specifies the output byte for byte).

Every value substituted into HTML is escaped; every link is checked by the WHATWG URL rules
browsers use (:func:`safe_href`); a ``template`` is author HTML, sanitised after substitution by an
allow-list (nh3, the binding of the Rust ammonia sanitiser), so no content can inject script.
"""

from __future__ import annotations

import html
import string
from typing import Any

import nh3
from ada_url import URL

from runtime.format import TEMPLATE_ATTRIBUTES, TEMPLATE_TAGS

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


class _EscapingFormatter(string.Formatter):
    """Only ``{name}`` and ``{name[key]}`` on the block's own fields: no attribute access, so a
    template cannot walk into Python objects (``{x.__class__}``)."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        name, _, rest = field_name.partition("[")
        if "." in field_name or not name.isidentifier():
            raise KeyError(field_name)
        value = kwargs[name]
        while rest:
            key, _, rest = rest.partition("]")
            if not isinstance(value, dict) or key not in value:
                raise KeyError(field_name)
            value = value[key]
            rest = rest[1:] if rest.startswith("[") else rest
        return value, name

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, (dict, list)):
            value = ""
        return html.escape(super().format_field(value, ""), quote=True)


_FORMATTER = _EscapingFormatter()
#: Attributes holding a URL: checked with safe_href after substitution, whatever the template wrote.
_URL_ATTRIBUTES = frozenset({"href", "src", "cite"})


def _check_urls(tag: str, attribute: str, value: str) -> str | None:
    return safe_href(value) if attribute in _URL_ATTRIBUTES else value


_TAGS = set(TEMPLATE_TAGS)
_ATTRIBUTES = {t: set(a) for t, a in TEMPLATE_ATTRIBUTES.items()}
_SCHEMES = {s.rstrip(":") for s in LINK_SCHEMES}


def sanitize(fragment: str) -> str:
    """Author HTML reduced to the template allow-list (runtime/format.py, ammonia's defaults plus
    ``class``): other tags are dropped (``script`` and ``style`` with their content), other
    attributes removed, URL attributes checked by safe_href. The compiler refuses templates that
    would lose anything here, so this is the guarantee for hand-made bundles, and for the values."""
    return nh3.clean(fragment, tags=_TAGS, attributes=_ATTRIBUTES, attribute_filter=_check_urls, url_schemes=_SCHEMES,
                     link_rel=None, strip_comments=True)


def render(content: Any) -> str:
    """HTML for a content block: its ``template`` with escaped placeholders, sanitised, or a
    standard layout of headline, body, image, cta and items. An empty block renders as nothing."""
    if not isinstance(content, dict) or not content:
        return ""
    tpl = content.get("template")
    if isinstance(tpl, str):
        try:
            filled = _FORMATTER.vformat(tpl, (), {k: v for k, v in content.items() if k != "template"})
        except (KeyError, IndexError, ValueError, AttributeError):
            return ""  # the compiler checks placeholders; a hand-made bundle may not
        return sanitize(filled)
    e = html.escape
    parts = []
    if content.get("image"):
        parts.append(f'<img class="strata-image" src="{e(safe_href(content["image"]))}" alt="">')
    if content.get("headline"):
        parts.append(f'<h2 class="strata-headline">{e(str(content["headline"]))}</h2>')
    if content.get("body"):
        parts.append(f'<p class="strata-body">{e(str(content["body"]))}</p>')
    items = content.get("items")
    if isinstance(items, list) and items:
        parts.append('<ul class="strata-items">' + "".join(f"<li>{e(str(i))}</li>" for i in items[:50]) + "</ul>")
    cta = content.get("cta")
    if isinstance(cta, dict) and cta.get("text"):
        parts.append(f'<a class="strata-cta" href="{e(safe_href(cta.get("href", "#")))}">{e(str(cta["text"]))}</a>')
    return "".join(parts)
