"""The resolve stage: a schema-valid document becomes the typed rule set (``ruleset.py``), with every
cross-reference resolved (segments, slots, experiments, signal types), every id unique, durations
in seconds, and templates checked against the safe subset the renderer keeps.
"""

from __future__ import annotations

import html.parser
import re
import string
from typing import Any

from runtime.format import MAX_VARIANTS, TEMPLATE_ATTRIBUTES, TEMPLATE_TAGS
from runtime.signals import BUILTIN_SIGNALS, BUILTIN_TYPES, make_checker

from . import errors as E
from . import models
from .errors import Diagnostic, Pos
from .ruleset import (
    DEFAULT_COST_LIMIT,
    DEFAULT_EXPIRES_AFTER,
    Condition,
    Experiment,
    Rule,
    RuleSet,
    Segment,
    SignalDecl,
    Slot,
    YPath,
)
from .source import Locator
from .types import Type, TypeSyntaxError, parse_type

_DURATION = re.compile(r"^([0-9]+)(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(value: Any) -> int:
    if isinstance(value, int):
        return value
    m = _DURATION.match(str(value))
    assert m, value  # the schema already checked the pattern
    return int(m.group(1)) * _UNITS[m.group(2)]


class Builder:
    def __init__(self, doc: dict[str, Any], loc: Locator):
        self.doc = doc
        self.loc = loc
        self.diags: list[Diagnostic] = []

    def err(self, path: YPath, parts: tuple[str, str, str | None], *, key: bool = False) -> None:
        self.diags.append(self.loc.diag(self.loc.pos(path, key=key), parts))

    def _unique(self, items: list[tuple[str, YPath]], kind: str, where: str = "") -> None:
        first: dict[str, Pos] = {}
        for ident, path in items:
            pos = self.loc.pos(path)
            if ident in first:
                self.err(path, E.duplicate_id(kind, ident, first[ident], where))
            else:
                first[ident] = pos

    def build(self) -> RuleSet:
        d = self.doc
        # ---- types and signals
        records_src: dict[str, dict[str, str]] = {**BUILTIN_TYPES, **d.get("types", {})}
        records: dict[str, dict[str, Type]] = {}
        for rname in records_src:
            records[rname] = {}
        for rname, fields in records_src.items():
            for fname, ftype in fields.items():
                try:
                    records[rname][fname] = parse_type(ftype, records_src)
                except TypeSyntaxError as bad:
                    self.err(("types", rname, fname), E.schema(str(bad)))
        signals: dict[str, SignalDecl] = {}
        for s in BUILTIN_SIGNALS:
            signals[s.name] = SignalDecl(
                s.name, parse_type(s.type, records_src), s.category, s.max_items, s.max_length, s.default,
                s.description, s.source, builtin=True,
            )
        # `score` is reserved only in a rule set that declares models: older rule sets may name a signal
        # or segment `score` (their `score.x` reads that signal) and still compile as before.
        has_models = bool(d.get("models"))
        for name, spec in d.get("signals", {}).items():
            path: YPath = ("signals", name)
            if has_models and (name == models.SCORE or name.startswith(models.SCORE + ".")):
                self.err(path, E.reserved_score("signal", name), key=True)
                continue
            if name in signals and signals[name].builtin:
                self.err(path, E.schema(f"signal {name} is built in and cannot be redeclared", "pick another name"), key=True)
                continue
            try:
                t = parse_type(spec["type"], records_src)
            except TypeSyntaxError as bad:
                self.err(path + ("type",), E.schema(str(bad)))
                continue
            decl = SignalDecl(name, t, spec["category"], spec.get("max_items"), spec.get("max_length"),
                              spec.get("default"), spec.get("description", ""), "client")
            if decl.default is not None:
                chk = make_checker(str(t), records_src, decl.max_items, decl.max_length)
                if not chk(decl.default):
                    self.err(path + ("default",), E.schema(f"default of {name} is not of type {t}"))
            signals[name] = decl
        # A signal's first name part may not collide with a segment (both are CEL identifiers).
        roots = {n.split(".")[0] for n in signals}

        consent_requires = list(d.get("consent", {}).get("requires", ["behavioral"]))
        h = d.get("holdout")
        holdout_bp = round(float(h["percent"]) * 100) if h else 0
        holdout_salt = (h.get("salt") if h else None) or f"{d['name']}-holdout"

        # ---- segments
        segs: list[Segment] = []
        self._unique([(s["id"], ("segments", i, "id")) for i, s in enumerate(d.get("segments", []))], "segment")
        for i, s in enumerate(d.get("segments", [])):
            path = ("segments", i)
            if has_models and s["id"] == models.SCORE:
                self.err(path + ("id",), E.reserved_score("segment", s["id"]))
            elif s["id"] in roots:
                self.err(path + ("id",), E.schema(f"segment id '{s['id']}' collides with the signal namespace '{s['id']}'", "rename the segment"))
            segs.append(Segment(s["id"], s["layer"], Condition(s["when"], path + ("when",)), path,
                                s.get("requires_consent"), s.get("description", "")))
        seg_by_id = {s.id: s for s in segs}

        # ---- slots and rules
        slots: list[Slot] = []
        self._unique([(s["id"], ("slots", i, "id")) for i, s in enumerate(d["slots"])], "slot")
        for i, s in enumerate(d["slots"]):
            spath: YPath = ("slots", i)
            self._content(s["default"], spath + ("default",))
            rules = []
            self._unique([(r["id"], spath + ("rules", j, "id")) for j, r in enumerate(s.get("rules", []))], "rule", f" in slot '{s['id']}'")
            for j, r in enumerate(s.get("rules", [])):
                rpath = spath + ("rules", j)
                seg = r.get("segment")
                layer = r.get("layer", "broad")
                if seg is not None:
                    if seg not in seg_by_id:
                        self.err(rpath + ("segment",), E.unknown_reference("segment", seg, seg_by_id))
                    else:
                        if "layer" in r and r["layer"] != seg_by_id[seg].layer:
                            self.err(rpath + ("layer",), E.schema(f"rule layer '{r['layer']}' differs from the layer '{seg_by_id[seg].layer}' of its segment '{seg}'", "drop 'layer': a rule with a segment takes its segment's layer"))
                        layer = seg_by_id[seg].layer
                when = Condition(r["when"], rpath + ("when",)) if "when" in r else None
                self._content(r["content"], rpath + ("content",))
                rules.append(Rule(s["id"], r["id"], "rule", seg, when, layer, r.get("priority", 0), j, r["content"],
                                  self._cap(r.get("cap")), rpath, r.get("requires_consent")))
            slots.append(Slot(s["id"], s["default"], rules, spath))
        slot_by_id = {s.id: s for s in slots}

        # ---- experiments
        exps: list[Experiment] = []
        self._unique([(e["id"], ("experiments", i, "id")) for i, e in enumerate(d.get("experiments", []))], "experiment")
        group_traffic: dict[str, list[Experiment]] = {}
        for i, e in enumerate(d.get("experiments", [])):
            epath: YPath = ("experiments", i)
            variants = []
            vids = []
            for j, v in enumerate(e["variants"]):
                self._content(v["content"], epath + ("variants", j, "content"))
                variants.append((v["id"], float(v["weight"]), v["content"], epath + ("variants", j)))
                vids.append((v["id"], epath + ("variants", j, "id")))
            self._unique(vids, "variant", f" in experiment '{e['id']}'")
            if len(variants) > MAX_VARIANTS:
                self.err(epath + ("variants",), E.too_many_variants(e["id"], len(variants), MAX_VARIANTS), key=True)
            total = sum(w for _, w, _, _ in variants)
            if abs(total - 100) > 1e-9:
                self.err(epath + ("variants",), E.weights(total, e["id"]))
            exp = Experiment(e["id"], e["slot"], e["audience"], float(e.get("traffic", 100)), e.get("salt") or e["id"],
                             e.get("group"), e.get("priority", 0), variants, self._cap(e.get("cap")), epath)
            if e["slot"] not in slot_by_id:
                self.err(epath + ("slot",), E.unknown_reference("slot", e["slot"], slot_by_id))
            if e["audience"] not in seg_by_id:
                self.err(epath + ("audience",), E.unknown_reference("segment", e["audience"], seg_by_id))
            if exp.group:
                group_traffic.setdefault(exp.group, []).append(exp)
            else:
                exp.start, exp.end = 0, round(exp.traffic * 100)
            exps.append(exp)
            if e["slot"] in slot_by_id and e["audience"] in seg_by_id:
                slot = slot_by_id[e["slot"]]
                if any(r.id == e["id"] for r in slot.rules):
                    self.err(epath + ("id",), E.schema(f"experiment '{e['id']}' has the same id as a rule of slot '{slot.id}'", "rename one of them"))
                slot.rules.append(Rule(slot.id, e["id"], "experiment", e["audience"], None, seg_by_id[e["audience"]].layer,
                                       exp.priority, 10_000 + i, None, exp.cap, epath, None, exp))
        for g, members in group_traffic.items():
            total = sum(m.traffic for m in members)
            if total > 100 + 1e-9:
                self.err(members[-1].path + ("traffic",), E.group_traffic(g, total))
            start = 0
            for m in members:  # file order: adding an experiment at the end keeps earlier ranges
                m.start, m.end = start, start + round(m.traffic * 100)
                start = m.end

        goals = list(d.get("goals", []))
        guardrails = dict(d.get("guardrails", {}))
        for g in guardrails:
            if g not in goals:
                self.err(("guardrails", g), E.unknown_reference("goal", g, goals), key=True)
        declared_models, diags = models.resolve(d, self.loc, signals, goals, exps, slots, holdout_bp, consent_requires)
        self.diags += diags
        return RuleSet(
            name=d["name"], version=d.get("version"), expires_after=seconds(d.get("expires_after", DEFAULT_EXPIRES_AFTER)),
            cost_limit=d.get("limits", {}).get("cost", DEFAULT_COST_LIMIT), records=records, signals=signals,
            consent_requires=consent_requires, consent_without=d.get("consent", {}).get("without", "contextual"), holdout_bp=holdout_bp, holdout_salt=holdout_salt, goals=goals, guardrails=guardrails,
            segments=segs, slots=slots, experiments=exps, tests=list(d.get("tests", [])), doc=d,
            models=declared_models,
        )

    def _cap(self, cap: dict[str, Any] | None) -> tuple[int, int] | None:
        if not cap:
            return None
        return int(cap.get("per_session", 0)), seconds(cap.get("cooldown", 0))

    def _content(self, block: dict[str, Any], path: YPath) -> None:
        tpl = block.get("template")
        if not isinstance(tpl, str):
            return
        try:
            names = [f for _, f, _, _ in string.Formatter().parse(tpl) if f is not None]
        except ValueError as e:
            self.err(path + ("template",), E.schema(f"template is not valid: {e}", "write placeholders as {field}; double braces {{ }} for literal braces"))
            return
        known = [k for k in block if k != "template"]
        for n in names:
            base = n.split(".")[0].split("[")[0]
            if base not in known:
                self.err(path + ("template",), E.template(n, known))
        for problem in _TemplateMarkup.problems(tpl):
            self.err(path + ("template",), problem)


class _TemplateMarkup(html.parser.HTMLParser):
    """The tags and attributes of a template outside runtime.format's allow-list, which the edge
    server's sanitiser would remove: refused at compile time rather than silently lost."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: dict[str, tuple[str, str, str | None]] = {}

    @classmethod
    def problems(cls, template: str) -> list[tuple[str, str, str | None]]:
        p = cls()
        p.feed(template)
        p.close()
        return list(p.found.values())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TEMPLATE_TAGS:
            self.found.setdefault(tag, E.template_tag(tag))
            return
        allowed = TEMPLATE_ATTRIBUTES["*"] | TEMPLATE_ATTRIBUTES.get(tag, frozenset())
        for name, value in attrs:
            if name not in allowed:
                self.found.setdefault(f"{tag} {name}", E.template_attribute(tag, name, allowed))
            elif name in _URL_ATTRIBUTES and value is not None and "{" not in value and _unsafe_link(value):
                self.found.setdefault(f"{tag} {name} {value}", E.template_link(tag, name, value))


#: Attributes holding a URL; a literal one in a template must be a link the edge server keeps.
_URL_ATTRIBUTES = frozenset({"href", "src", "cite"})
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def _unsafe_link(value: str) -> bool:
    """A literal link the edge server's safe_href would replace by ``#`` (docs/server.md#rendering):
    after the WHATWG normalisation, a scheme other than http, https, mailto, or scheme-relative
    (two slashes or backslashes). A link with a placeholder is checked when rendered."""
    v = value.strip("".join(map(chr, range(0x21)))).translate(str.maketrans("", "", "\t\n\r"))
    m = _SCHEME.match(v)
    if m:
        return m.group().lower() not in ("http:", "https:", "mailto:")
    return not v or (len(v) > 1 and v[0] in "/\\" and v[1] in "/\\")


