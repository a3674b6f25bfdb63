"""Compiler diagnostics. All user-facing wording of compile errors lives in this file.

A diagnostic prints as ``path:line:column: code: message (hint)`` followed by the source line and
a caret, like cel-go's ``ToDisplayString`` and OPA's ``ast/errors.go``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

#: Stop collecting after this many errors: past it, later errors are mostly consequences.
MAX_ERRORS = 50


@dataclass(frozen=True)
class Pos:
    path: str
    line: int  # 1-based
    col: int  # 1-based

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    pos: Pos
    code: str
    message: str
    hint: str | None = None
    severity: str = "error"  # error | warning
    source_line: str | None = None

    def __str__(self) -> str:
        head = f"{self.pos}: {self.code}: {self.message}"
        if self.severity == "warning":
            head = f"{self.pos}: warning: {self.code}: {self.message}"
        if self.hint:
            head += f" ({self.hint})"
        return head

    def display(self) -> str:
        text = str(self)
        if self.source_line is not None:
            text += f"\n    | {self.source_line}\n    | {' ' * (self.pos.col - 1)}^"
        return text


class CompileError(Exception):
    """One or more errors in a rule set; ``diagnostics`` holds them sorted by location."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.pos.path, d.pos.line, d.pos.col))
        super().__init__("\n".join(str(d) for d in self.diagnostics))


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean {close[0]}?" if close else None


# ---------------------------------------------------------------------------- constructors
# Each returns (code, message, hint). The caller attaches the position.


def yaml_syntax(problem: str) -> tuple[str, str, str | None]:
    return "yaml-syntax", problem, "fix the YAML syntax; indentation and ':' after keys are the usual culprits"


def schema(message: str, hint: str | None = None) -> tuple[str, str, str | None]:
    return "schema", message, hint


def duplicate_id(kind: str, ident: str, first: Pos, where: str = "") -> tuple[str, str, str | None]:
    return "duplicate-id", f"{kind} '{ident}' is defined twice{where} (first at line {first.line})", "rename one of them"


def unknown_reference(kind: str, name: str, known: Iterable[str]) -> tuple[str, str, str | None]:
    return f"unknown-{kind}", f"{kind} '{name}' is not defined", did_you_mean(name, known) or f"define the {kind} first"


def cel_syntax(detail: str) -> tuple[str, str, str | None]:
    return "cel-syntax", f"CEL syntax error: {detail}", "check the expression's operators, quotes and parentheses"


def unknown_signal(name: str, known: Iterable[str]) -> tuple[str, str, str | None]:
    return (
        "unknown-signal",
        f"{name} is not declared",
        did_you_mean(name, known) or "declare it under 'signals:' with a type and category",
    )


def unknown_field(field: str, of: str, known: Iterable[str]) -> tuple[str, str, str | None]:
    return "unknown-field", f"'{of}' has no field '{field}'", did_you_mean(field, known) or f"fields of {of}: {', '.join(sorted(known))}"


def type_mismatch(message: str, hint: str | None = None) -> tuple[str, str, str | None]:
    return "type-mismatch", message, hint


def unsupported(construct: str, hint: str | None = None) -> tuple[str, str, str | None]:
    return "unsupported", f"{construct} is not supported by Strata", hint


def not_bool(what: str, got: str) -> tuple[str, str, str | None]:
    return "type-mismatch", f"{what} must be a bool condition, but this expression is {got}", "compare the value, e.g. x == \"...\" or size(x) > 0"


RE2_SYNTAX = "https://github.com/google/re2/wiki/Syntax"


def regex_not_constant(fn: str) -> tuple[str, str, str | None]:
    return (
        "regex-not-constant",
        f"the pattern of {fn}() must be a constant string literal, not a computed value (a visitor could supply it)",
        'write the pattern in quotes, e.g. page.path.matches("^/tents/"); to compare with a signal use ==, startsWith, endsWith or contains',
    )


def invalid_regex(pattern: str, reason: str) -> tuple[str, str, str | None]:
    shown = pattern if len(pattern) <= 60 else pattern[:57] + "..."
    shown = f"`{shown}`" if shown.isprintable() else repr(shown)  # as written, unless it holds control characters
    return (
        "invalid-regex",
        f"invalid regular expression {shown}: {reason}",
        f"patterns use RE2 syntax, without backreferences, look-around or possessive quantifiers: {RE2_SYNTAX}",
    )


def segment_cycle(path: list[str]) -> tuple[str, str, str | None]:
    return "segment-cycle", "segments refer to each other in a cycle: " + " -> ".join(path), "break the cycle: a segment cannot depend on itself"


def weights(total: float, exp: str) -> tuple[str, str, str | None]:
    return "weights", f"variant weights of experiment '{exp}' sum to {total:g}, not 100", "adjust the weights so they add up to 100"


def too_many_variants(exp: str, count: int, limit: int) -> tuple[str, str, str | None]:
    return ("too-many-variants", f"experiment '{exp}' has {count} variants, more than {limit}: a visitor's cookie could not hold its "
            "allocation period, so every visit would start a new session", f"split it into experiments of at most {limit} variants")


def decision_state(slot: str, total: int, limit: int) -> tuple[str, str, str | None]:
    return ("decision-state", f"one decision of the slots up to '{slot}' can write {total} bytes into the visitor's cookie, more than "
            f"MAX_DECISION_STATE ({limit}): the cookie could not keep that decision's exposures, so the visit's next exposure would "
            "count as a new assignment", "split the slots into rule sets, or shorten their ids, or use fewer variants or capped rules")


def group_traffic(group: str, total: float) -> tuple[str, str, str | None]:
    return "group-traffic", f"experiments in exclusion group '{group}' take {total:g}% of traffic together, more than 100%", "lower the traffic of the group's experiments"


def consent_violation(what: str, signal: str, category: str) -> tuple[str, str, str | None]:
    return (
        "consent",
        f"{what} is meant for visitors without consent (requires_consent: false) but reads {category} signal {signal}",
        "use only contextual and technical signals here, or drop 'requires_consent: false'",
    )


def unreachable(rule: str, reason: str) -> tuple[str, str, str | None]:
    return "unreachable-rule", f"rule '{rule}' can never win: {reason}", "remove it, or reorder/prioritise the rules"


def unused_segment(seg: str) -> tuple[str, str, str | None]:
    return "unused-segment", f"segment '{seg}' is not used by any rule, experiment or other segment", "remove it or reference it"


def cost(estimate: int, limit: int, widest_range: int, longest_string: int) -> tuple[str, str, str | None]:
    why = []
    if widest_range:
        why.append(f"a comprehension ranges over up to {widest_range:,} items")
    if longest_string > 4096:
        why.append(f"a string can grow to {longest_string:,} characters")
    return (
        "cost",
        f"estimated evaluation cost {estimate:,} exceeds the limit of {limit:,}" + (f" ({'; '.join(why)})" if why else ""),
        "declare smaller max_items/max_length on the signals it reads, do not nest comprehensions over long lists "
        "(split() of a long string is one), and do not grow strings with replace() or + inside comprehensions",
    )


def template(placeholder: str, known: Iterable[str]) -> tuple[str, str, str | None]:
    return "template", f"template placeholder {{{placeholder}}} names no field of this content block", did_you_mean(placeholder, known) or "add the field or fix the placeholder"


def template_tag(tag: str) -> tuple[str, str, str | None]:
    return ("template", f"template uses <{tag}>, which templates may not contain (the edge server would remove it)",
            "templates allow formatting and structure tags: p, div, span, a, img, strong, em, ul, ol, li, h1-h6, table...; see docs/rulesets.md#templates")


def template_attribute(tag: str, attribute: str, allowed: Iterable[str]) -> tuple[str, str, str | None]:
    return ("template", f"template uses the attribute {attribute!r} on <{tag}>, which templates may not contain (the edge server would remove it)",
            f"allowed on <{tag}>: {', '.join(sorted(allowed))}; style with the page's CSS through class")


def template_link(tag: str, attribute: str, value: str) -> tuple[str, str, str | None]:
    return ("template", f"template link {attribute}={value[:60]!r} on <{tag}> is neither an http(s)/mailto URL nor on the site (the edge server would render '#')",
            "write an absolute https:// URL or a path such as /sale.html")


def test_ref(what: str, name: str, known: Iterable[str]) -> tuple[str, str, str | None]:
    return f"test-{what}", f"test refers to unknown {what} '{name}'", did_you_mean(name, known)


# ---------------------------------------------------------------------------- models (models.py)


def reserved_score(what: str, name: str) -> tuple[str, str, str | None]:
    return ("reserved-name", f"{what} '{name}' uses the reserved name 'score' (score.<model> reads a model's score)",
            "rename it")


def unknown_model(name: str, known: Iterable[str]) -> tuple[str, str, str | None]:
    models = sorted(known)
    listed = f"declared models: {', '.join(models)}" if models else "no model is declared under 'models:'"
    return "unknown-model", f"score.{name}: no model '{name}' is declared ({listed})", did_you_mean(name, models) or "declare it under 'models:'"


def score_alone(known: Iterable[str]) -> tuple[str, str, str | None]:
    models = sorted(known)
    return ("unknown-model", "'score' alone is not a value: write score.<model>",
            f"declared models: {', '.join(models)}" if models else "declare a model under 'models:'")


def feature_kind(feature: str, problem: str) -> tuple[str, str, str | None]:
    return "feature", f"feature '{feature}' {problem}", "give it exactly one of values: [...], edges: [...] or contains: <literal>"


def feature_type(feature: str, message: str, hint: str) -> tuple[str, str, str | None]:
    return "type-mismatch", f"feature '{feature}': {message}", hint


def feature_args(feature: str, message: str, hint: str | None = None) -> tuple[str, str, str | None]:
    return "feature", f"feature '{feature}': {message}", hint


def unknown_feature(model: str, name: str, known: Iterable[str]) -> tuple[str, str, str | None]:
    feats = list(known)
    return ("unknown-feature", f"model '{model}' has no feature '{name}'",
            did_you_mean(name, feats) or f"features of {model}: {', '.join(feats)}")


def unknown_level(feature: str, name: str, known: Iterable[str]) -> tuple[str, str, str | None]:
    levels = list(known)
    return ("unknown-level", f"feature '{feature}' has no level {name!r}",
            did_you_mean(name, levels) or f"levels of {feature}: {', '.join(levels)}")


def coefficient_range(what: str, value: object, limit: float) -> tuple[str, str, str | None]:
    return ("coefficient-range", f"{what} is {value!r}: coefficients must be finite numbers between -{limit:g} and {limit:g}",
            "a weight is a log-odds change; |x| > 10 already means near certainty")


def coefficients_shape(model: str, uplift: bool) -> tuple[str, str, str | None]:
    if uplift:
        return ("coefficients", f"model '{model}' is an uplift model: its coefficients are {{treatment: {{bias, weights}}, control: {{bias, weights}}}}",
                "give one set per arm")
    return ("coefficients", f"model '{model}' is not an uplift model: its coefficients are {{bias, weights}}",
            "drop treatment:/control:, or declare uplift: on the model")


def coefficients_model(model: str, other: str) -> tuple[str, str, str | None]:
    return ("stale-coefficients", f"these coefficients are for model '{other}', not '{model}'",
            "point coefficients: at the model's own file, or run strata train again")


def stale_coefficients(fitted: str, now: str) -> tuple[str, str, str | None]:
    return ("stale-coefficients", f"these coefficients were fitted for other features (spec {fitted}, now {now}): run strata train again",
            "train on counters of the new spec, or remove the file to publish the new features untrained (every weight 0)")


def coefficients_io(path: str, problem: str) -> tuple[str, str, str | None]:
    return "io", f"cannot read coefficient file {path}: {problem}", "check the path: it is relative to the rule set"


def path_outside(name: str, why: str) -> tuple[str, str, str | None]:
    return ("path-outside", f"{name[:80]!r} leaves the rule set's folder ({why}): a rule set names only files in its own folder",
            "move the file into the rule set's folder (or a subfolder) and name it relative to the rule set, e.g. coefficients: models/intent.yaml")


def calibration(message: str) -> tuple[str, str, str | None]:
    return ("calibration", message, "strata train writes the calibration; run it again rather than editing knots by hand")


def stale_calibration(fitted: str, now: str) -> tuple[str, str, str | None]:
    return ("stale-calibration", f"this calibration was fitted for other weights (fit {fitted}, the bias and weights now make fit {now})",
            "run strata train again, or remove calibration: to publish the weights uncalibrated (the sigmoid of the log-odds)")


def untrained_model(model: str, path: str | None) -> tuple[str, str, str | None]:
    if path is None:
        return ("untrained-model", f"model '{model}' has no coefficients: its score is 0.5 for every visitor",
                "add coefficients: (a file strata train writes, or inline {bias, weights}); a threshold below 0.5 fires for everyone until then")
    return ("untrained-model", f"model '{model}': coefficient file {path} does not exist yet: its score is 0.5 for every visitor",
            "publish, collect counters, then run strata train to write it; a threshold below 0.5 fires for everyone until then")


def uplift_holdout(model: str) -> tuple[str, str, str | None]:
    return ("uplift", f"model '{model}' measures a rule against the holdout, but the rule set has no holdout",
            "add holdout: {percent: 5}, or use uplift: {experiment, treatment, control}")


def uplift_arms(model: str) -> tuple[str, str, str | None]:
    return "uplift", f"model '{model}': treatment and control are the same variant", "name two different variants of the experiment"
