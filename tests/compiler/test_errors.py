"""Broken rule sets: every error names file:line:column, a code, and what to do.

Each case is (name, YAML, expected "line:col: code: message" prefix). Lines and columns are
1-based and point at the offending token.
"""

from __future__ import annotations

import pytest

from compiler.errors import CompileError
from compiler.harness.fixtures import BASE
from tests.compiler.helpers import compile_text, errors_of


def with_when(expr: str) -> str:
    return BASE.replace('device.type == "mobile"', expr)


CASES = [
    # ---- YAML and schema
    ("yaml_unclosed_flow", "strata: 1\nname: shop\nslots: [\n", "4:1: yaml-syntax"),
    ("yaml_bad_indent", "strata: 1\nname: shop\n  slots: x\n", "3:8: yaml-syntax: mapping values are not allowed"),
    ("missing_strata", BASE.replace("strata: 1\n", ""), "1:1: schema: the document is missing the required field 'strata'"),
    ("unknown_top_level_key", BASE.replace("slots:", "slot:"), "7:1: schema: unknown field 'slot' in the document (did you mean slots?)"),
    ("bad_layer", BASE.replace("layer: broad", "layer: medium"), "5:12: schema: segments[0].layer: 'medium' is not one of 'broad', 'mid', 'specific'"),
    ("segment_id_not_identifier", BASE.replace("- id: mobile", "- id: Mobile-Users"), "4:9: schema: segments[0].id: 'Mobile-Users' is not valid here (use lower-case letters, digits and '_' (it is a CEL identifier))"),
    ("rule_missing_content", BASE.replace("        content: {headline: Small}\n", ""), "11:9: schema: slots[0].rules[0] is missing the required field 'content'"),
    ("rule_without_condition", BASE.replace("        segment: mobile\n", ""), "11:9: schema: rule slots[0].rules[0] needs a 'segment' or a 'when' condition"),
    ("rule_field_typo", BASE.replace("        segment: mobile\n", "        segment: mobile\n        priorty: 3\n"), "13:9: schema: unknown field 'priorty' in slots[0].rules[0] (did you mean priority?)"),
    ("bad_duration", BASE.replace("        segment: mobile\n", "        segment: mobile\n        cap: {cooldown: 5 minutes}\n"), "13:25: schema: slots[0].rules[0].cap.cooldown: '5 minutes' is not valid here (write a duration like 30s, 15m, 1h or 7d)"),
    ("test_expect_typo", BASE + "tests:\n  - name: t\n    expect: {hero: {reasn: default}}\n", "16:21: schema: unknown field 'reasn' in tests[0].expect.hero (did you mean reason?)"),
    ("yaml_duplicate_key", BASE.replace("name: shop\n", "name: shop\nname: shop2\n"), "3:1: yaml-syntax: duplicate key 'name' (first at line 2)"),
    ("yaml_alias_bomb", "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8)), "yaml-syntax: document expands to more than 2,000,000 values"),
    # ---- references and ids
    ("unknown_segment_ref", BASE.replace("segment: mobile", "segment: mobil"), "12:18: unknown-segment: segment 'mobil' is not defined (did you mean mobile?)"),
    ("duplicate_segment", BASE.replace("slots:", "  - id: mobile\n    layer: mid\n    when: 'true'\nslots:"), "7:9: duplicate-id: segment 'mobile' is defined twice (first at line 4)"),
    ("duplicate_slot", BASE + "  - id: hero\n    default: {}\n", "14:9: duplicate-id: slot 'hero' is defined twice (first at line 8)"),
    ("duplicate_rule", BASE + "      - id: small\n        when: 'true'\n        content: {}\n", "14:13: duplicate-id: rule 'small' is defined twice in slot 'hero' (first at line 11) (rename one of them)"),
    ("segment_shadows_signal_namespace", BASE.replace("- id: mobile", "- id: device").replace("segment: mobile", "segment: device"), "4:9: schema: segment id 'device' collides with the signal namespace 'device' (rename the segment)"),
    ("rule_layer_differs", BASE.replace("        segment: mobile\n", "        segment: mobile\n        layer: specific\n"), "13:16: schema: rule layer 'specific' differs from the layer 'broad' of its segment 'mobile'"),
    # ---- signals and types
    ("unknown_signal_type", BASE + "signals:\n  wishlist: {type: lst(string), category: behavioral}\n", "15:20: schema: unknown type 'lst(string)'"),
    ("redeclare_builtin", BASE + "signals:\n  device.type: {type: string, category: technical}\n", "15:3: schema: signal device.type is built in and cannot be redeclared"),
    ("bad_signal_default", BASE + "signals:\n  loyalty.tier: {type: int, category: behavioral, default: gold}\n", "15:60: schema: default of loyalty.tier is not of type int"),
    # ---- CEL
    ("cel_syntax_error", with_when('device.type == "mobile" &&'), "6:35: cel-syntax: CEL syntax error: unexpected end of expression"),
    ("cel_bad_character", with_when('device.type = "mobile"'), "6:23: cel-syntax: CEL syntax error: unexpected character '='"),
    ("unknown_signal", with_when("session.pageviews > 3"), "6:11: unknown-signal: session.pageviews is not declared (did you mean session.page_views?)"),
    ("compare_string_with_int", with_when("device.type == 1"), "6:23: type-mismatch: cannot compare string with int using '=='"),
    ("order_bool_and_string", with_when('session.purchased < "x"'), "6:29: type-mismatch: cannot order bool and string with '<'"),
    ("condition_not_bool", with_when("device.type"), "6:11: type-mismatch: segment 'mobile' must be a bool condition, but this expression is string"),
    ("unknown_record_field", with_when('cart.items.exists(i, i.categry == "tents")'), "6:34: unknown-field: 'CartItem' has no field 'categry' (did you mean category?)"),
    ("predicate_not_bool", with_when("cart.items.exists(i, i.price)"), "6:32: type-mismatch: the predicate of exists() must be a bool condition, but this expression is double"),
    ("in_wrong_element_type", with_when("device.type in [1, 2]"), "6:23: type-mismatch: 'in' needs a list or map of string, got list(int)"),
    ("unsupported_function", with_when('timestamp("2026-01-01T00:00:00Z") == time.epoch'), "6:11: unsupported: the function timestamp() is not supported by Strata (use the int signal time.epoch (Unix seconds) and compare numbers)"),
    ("wrong_overload", with_when('device.type.startsWith(1)'), "6:22: type-mismatch: no overload of startsWith accepts these arguments: string.startsWith(int)"),
    ("error_on_second_line_of_folded_scalar", BASE.replace('when: device.type == "mobile"', 'when: >\n      device.type == "mobile"\n      && session.visits > 2'), "8:10: unknown-signal: session.visits is not declared (did you mean session.visit_count?)"),
    ("error_in_quoted_scalar", BASE.replace('when: device.type == "mobile"', "when: 'geo.county == \"US\"'"), "6:12: unknown-signal: geo.county is not declared (did you mean geo.country?)"),
    ("regex_unbalanced", with_when('page.path.matches("([a-z")'), "6:29: invalid-regex: invalid regular expression `([a-z`: missing ]: [a-z (patterns use RE2 syntax"),
    ("regex_backreference", with_when('page.path.matches(r"(a)\\1")'), "6:29: invalid-regex: invalid regular expression `(a)\\1`: invalid escape sequence: \\1"),
    ("regex_lookahead_global_form", with_when('matches(page.path, "^/(?=tents)")'), "6:30: invalid-regex: invalid regular expression `^/(?=tents)`: invalid perl operator: (?="),
    ("regex_possessive", with_when('page.path.matches("a++")'), "6:29: invalid-regex: invalid regular expression `a++`: bad repetition operator: ++"),
    ("regex_visitor_pattern", with_when("page.path.matches(utm.term)"), "6:29: regex-not-constant: the pattern of matches() must be a constant string literal"),
    ("regex_computed_pattern_global_form", with_when('matches(page.path, "^" + utm.term)'), "6:30: regex-not-constant: the pattern of matches() must be a constant string literal"),
    # ---- analysis
    ("segment_cycle", BASE.replace("slots:", "  - id: a\n    layer: mid\n    when: b\n  - id: b\n    layer: mid\n    when: a && mobile\nslots:"), "12:11: segment-cycle: segments refer to each other in a cycle: a -> b -> a"),
    ("segment_self_cycle", BASE.replace('when: device.type == "mobile"', "when: mobile || false"), "6:11: segment-cycle: segments refer to each other in a cycle: mobile -> mobile"),
    ("weights_do_not_sum", BASE + "experiments:\n  - id: e\n    slot: hero\n    audience: mobile\n    variants:\n      - {id: a, weight: 50, content: {}}\n      - {id: b, weight: 40, content: {}}\n", "19:7: weights: variant weights of experiment 'e' sum to 90, not 100"),
    ("experiment_unknown_audience", BASE + "experiments:\n  - id: e\n    slot: hero\n    audience: tablet\n    variants: [{id: a, weight: 100, content: {}}]\n", "17:15: unknown-segment: segment 'tablet' is not defined"),
    ("experiment_unknown_slot", BASE + "experiments:\n  - id: e\n    slot: heroo\n    audience: mobile\n    variants: [{id: a, weight: 100, content: {}}]\n", "16:11: unknown-slot: slot 'heroo' is not defined (did you mean hero?)"),
    ("group_over_100", BASE + "experiments:\n  - {id: e1, slot: hero, audience: mobile, group: g, traffic: 60, variants: [{id: a, weight: 100, content: {}}]}\n  - {id: e2, slot: hero, audience: mobile, group: g, traffic: 50, variants: [{id: a, weight: 100, content: {}}]}\n", "16:63: group-traffic: experiments in exclusion group 'g' take 110% of traffic together"),
    ("consent_segment_reads_behavioral", BASE.replace("    layer: broad\n", "    layer: broad\n    requires_consent: false\n").replace('device.type == "mobile"', "session.page_views > 2"), "7:11: consent: segment 'mobile' is meant for visitors without consent (requires_consent: false) but reads behavioral signal session.page_views"),
    ("consent_rule_reads_behavioral_via_segment", BASE.replace('device.type == "mobile"', "'\"tents\" in session.recent_categories'").replace("        segment: mobile\n", "        segment: mobile\n        requires_consent: false\n"), "13:27: consent: rule 'small' is meant for visitors without consent (requires_consent: false) but reads behavioral signal session.recent_categories"),
    ("template_unknown_placeholder", BASE.replace("content: {headline: Small}", 'content: {headline: Small, template: "<b>{headlin}</b>"}'), "13:46: template: template placeholder {headlin} names no field of this content block (did you mean headline?)"),
    ("template_script", BASE.replace("content: {headline: Small}", 'content: {headline: Small, template: "<b>{headline}</b><script>x()</script>"}'), "13:46: template: template uses <script>, which templates may not contain (the edge server would remove it)"),
    ("template_event_handler", BASE.replace("content: {headline: Small}", 'content: {headline: Small, template: "<b onclick=\'x()\'>{headline}</b>"}'), "13:46: template: template uses the attribute 'onclick' on <b>, which templates may not contain (the edge server would remove it) (allowed on <b>: class, lang, title;"),
    # ---- guardrail goals (docs/measurement.md, Many comparisons)
    ("guardrail_unknown_goal", BASE + "goals: [purchase, returns]\nguardrails: {retruns: must_not_increase}\n", "15:14: unknown-goal: goal 'retruns' is not defined (did you mean returns?)"),
    ("guardrail_bad_direction", BASE + "goals: [purchase, returns]\nguardrails:\n  returns: lower\n", "16:12: schema: guardrails.returns: 'lower' is not one of 'must_not_decrease', 'must_not_increase'"),
]


@pytest.mark.parametrize("name,text,expected", CASES, ids=[c[0] for c in CASES])
def test_errors_report_location_code_and_message(name: str, text: str, expected: str) -> None:
    diags = errors_of(text)
    rendered = [str(d) for d in diags]
    if expected[0].isdigit():
        assert any(r.startswith("rs.yaml:" + expected) for r in rendered), "\n".join(rendered)
    else:
        assert any(expected in r for r in rendered), "\n".join(rendered)


def test_errors_all_errors_of_a_file_reported_in_one_run() -> None:
    text = BASE.replace('device.type == "mobile"', "session.pageviews > 1") + "  - id: banner\n    default: {}\n    rules:\n      - {id: r, when: geo.county == 'US', content: {}}\n"
    diags = errors_of(text)
    assert [str(d.pos) for d in diags] == ["rs.yaml:6:11", "rs.yaml:17:23"]


def test_errors_display_shows_source_line_and_caret() -> None:
    diags = errors_of(with_when("session.pageviews > 3"))
    assert diags[0].display().splitlines()[1:] == ["    | " + "    when: session.pageviews > 3", "    | " + " " * 10 + "^"]


def test_errors_strict_turns_unreachable_rule_warning_into_error() -> None:
    text = BASE + "      - id: small2\n        segment: mobile\n        content: {headline: Again}\n"
    ctx = compile_text(text)
    assert [w.code for w in ctx.warnings] == ["unreachable-rule"]
    with pytest.raises(CompileError, match=r"rs.yaml:15:18: unreachable-rule: rule 'small2' can never win: earlier rule 'small' in the same layer has the same condition"):
        compile_text(text, strict=True)


def test_errors_cost_over_limit_is_an_error_without_strict() -> None:
    text = with_when("cart.items.exists(i, cart.items.exists(j, session.recent_categories.exists(c, c == i.category && c == j.category)))")
    with pytest.raises(CompileError, match=r"rs.yaml:6:11: cost: estimated evaluation cost [\d,]+ exceeds the limit of 10,000 \(a comprehension ranges over up to 50 items\)"):
        compile_text(text)


def test_errors_unused_segment_is_a_warning() -> None:
    ctx = compile_text(BASE.replace("slots:", "  - id: lonely\n    layer: mid\n    when: 'true'\nslots:"))
    assert [str(w) for w in ctx.warnings] == [
        "rs.yaml:7:9: warning: unused-segment: segment 'lonely' is not used by any rule, experiment or other segment (remove it or reference it)"
    ]


def test_errors_always_false_rule_is_a_warning() -> None:
    ctx = compile_text(BASE.replace("        segment: mobile\n", "        when: 1 > 2\n"))
    assert any(str(w).startswith("rs.yaml:12:15: warning: unreachable-rule: rule 'small' can never win: its condition is always false") for w in ctx.warnings)


def test_errors_missing_file_is_reported_not_raised() -> None:
    from compiler.pipeline import run

    with pytest.raises(CompileError, match=r"no/such.yaml:1:1: io: cannot read rule set"):
        run("no/such.yaml")


def test_errors_guardrails_resolve_for_the_report():
    ctx = compile_text(BASE + "goals: [purchase, returns]\nguardrails: {returns: must_not_increase, purchase: must_not_decrease}\n")
    assert ctx.ruleset is not None and ctx.ruleset.guardrails == {"returns": "must_not_increase", "purchase": "must_not_decrease"}
