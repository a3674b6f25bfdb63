"""Content blocks -> HTML (docs/server.md, "Rendering", specifies the output byte for byte).

Every value substituted into HTML is escaped; every link is checked by the WHATWG URL rules
browsers use (edge_server/safe_href.py); a ``template`` is author HTML, sanitised after substitution by an
allow-list (nh3, the binding of the Rust ammonia sanitiser), so no content can inject script.
"""

from __future__ import annotations

import html
import re
import string
from typing import Any

import nh3

from runtime.format import TEMPLATE_ATTRIBUTES, TEMPLATE_TAGS

from .safe_href import LINK_SCHEMES, safe_href


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
#: Markup the two HTML parsers build different trees from: html5ever (in nh3) parses a ``select``
#: element's content by the customizable-select rules of the HTML standard (2025), still counts
#: ``isindex`` among the special elements, and after a DOCTYPE token inside a table moves the
#: table's whitespace out of it; parse5 (in the worker) does none of these. A fragment with a
#: ``select`` or ``isindex`` start tag or a DOCTYPE renders as nothing on both runtimes
#: (worker/sanitize.js, the same pattern), instead of two different safe fragments; the compiler
#: refuses both tags in templates, and a DOCTYPE means nothing in a fragment.
DIVERGENT_START_TAG = re.compile(r"<(?:select|isindex)[\t\n\f\r />]|<!doctype", re.IGNORECASE | re.ASCII)


def sanitize(fragment: str) -> str:
    """Author HTML reduced to the template allow-list (runtime/format.py, ammonia's defaults plus
    ``class``): other tags are dropped (``script`` and ``style`` with their content), other
    attributes removed, URL attributes checked by safe_href. The compiler refuses templates that
    would lose anything here, so this is the guarantee for hand-made bundles, and for the values.
    A fragment with a start tag the parsers disagree on renders as nothing (:data:`DIVERGENT_START_TAG`)."""
    if DIVERGENT_START_TAG.search(fragment):
        return ""
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
