"""Page mode: find the elements marked ``data-strata-slot="NAME"`` with a real HTML parser
(selectolax/Lexbor) and replace their inner HTML with the decided, escaped content."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from selectolax.lexbor import LexborHTMLParser

from .contract import MAX_NAME
from .contract import MAX_PAGE_BYTES as MAX_PAGE_BYTES

# Pages larger than MAX_PAGE_BYTES (edge_contract.json) are served untouched.


class Page:
    def __init__(self, html: str):
        self.tree = LexborHTMLParser(html)
        self.nodes = self.tree.css("[data-strata-slot]")
        self.slots = list(dict.fromkeys((n.attributes.get("data-strata-slot") or "").strip() for n in self.nodes if n.attributes.get("data-strata-slot")))
        root = self.tree.root
        self.category = ((root.attributes.get("data-strata-category") if root is not None else None) or "").strip()[:MAX_NAME]
        #: "client": the page personalises itself with /v1/client.js; the server leaves it alone
        self.mode = ((root.attributes.get("data-strata-mode") if root is not None else None) or "server").strip()

    def fill(self, decisions: dict[str, Any], render: Callable[[Any], str], overlay: str | None = None) -> str:
        for node in self.nodes:
            slot = (node.attributes.get("data-strata-slot") or "").strip()
            d = decisions.get(slot)
            if d is None:
                continue
            node.inner_html = render(d.content)
            node.attrs["data-strata-reason"] = d.reason
            if d.rule:
                node.attrs["data-strata-rule"] = d.rule
            if d.variant:
                node.attrs["data-strata-variant"] = d.variant
        out = self.tree.html or ""
        if overlay:
            # our own markup (every value in it escaped), appended at the end of <body>
            at = out.rfind("</body>")
            out = out[:at] + overlay + out[at:] if at >= 0 else out + overlay
        if not out.lstrip().lower().startswith("<!doctype"):
            out = "<!DOCTYPE html>\n" + out
        return out
