"""Content blocks -> HTML. Every value substituted into HTML is escaped; links must be http(s)
or site-relative, so content can never inject script."""

from __future__ import annotations

import html
import string
from typing import Any

_SAFE_SCHEMES = ("http://", "https://", "/", "#", "?")


def safe_href(value: Any) -> str:
    v = str(value).strip()
    if v.startswith("//") or not v.lower().startswith(_SAFE_SCHEMES):
        return "#"
    return v


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


def render(content: Any) -> str:
    """HTML for a content block: its ``template`` with escaped placeholders, or a standard layout
    of headline, body, image, cta and items. An empty block renders as nothing."""
    if not isinstance(content, dict) or not content:
        return ""
    tpl = content.get("template")
    if isinstance(tpl, str):
        try:
            return _FORMATTER.vformat(tpl, (), {k: v for k, v in content.items() if k != "template"})
        except (KeyError, IndexError, ValueError, AttributeError):
            return ""  # the compiler checks placeholders; a hand-made bundle may not
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
