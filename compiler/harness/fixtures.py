"""The shared rule-set fixtures: the demo rule set and its variants, and the small YAML rule sets
that tests of several parts, and benchmarks, compile. One place, so a fixture changes once."""

from __future__ import annotations

import json
from pathlib import Path

#: The checkout: the harness runs from a source tree (``pip install -e .``), as tests and benchmarks do.
ROOT = Path(__file__).resolve().parents[2]
TRAILBLAZER = ROOT / "rulesets" / "trailblazer.yaml"
#: A fixed creation time for bundles made by tests and benchmarks: 2026-11-01 00:00:00 UTC.
CREATED = 1_793_491_200
#: An expiry far ahead (2100-01-01), for bundles that must stay valid (vectors, benchmark fixtures).
EXPIRES = 4_102_444_800

#: A minimal rule set: one segment on device type, one slot with one rule.
BASE = """\
strata: 1
name: shop
segments:
  - id: mobile
    layer: broad
    when: device.type == "mobile"
slots:
  - id: hero
    default: {headline: Hi}
    rules:
      - id: small
        segment: mobile
        content: {headline: Small}
"""

#: Every kind of model (plain, two goals, uplift of an experiment, uplift of a rule) with a holdout:
#: what the model-counting tests and benchmarks/model_counting_bench.py count.
MODEL_COUNTING = """\
strata: 1
name: counting
goals: [purchase, add_to_cart]
holdout: {percent: 30, salt: counting-holdout}
models:
  intent:
    goal: purchase
    features:
      device: {signal: device.type, values: [mobile, desktop, tablet]}
      source: {signal: utm.source, values: [newsletter, google]}
      depth: {signal: session.page_views, edges: [2, 4]}
    coefficients: {bias: -1.0, weights: {device: {mobile: 0.5}}}
  carts:
    goal: add_to_cart
    features:
      device: {signal: device.type, values: [mobile, desktop]}
  discount:
    goal: purchase
    uplift: {experiment: offer-test, treatment: bundle-discount, control: free-shipping}
    features:
      device: {signal: device.type, values: [mobile, desktop]}
    coefficients: {treatment: {bias: 1.0, weights: {}}, control: {bias: 1.0, weights: {}}}
  welcome:
    goal: purchase
    uplift: {slot: hero, rule: keen}
    features:
      device: {signal: device.type, values: [mobile, desktop]}
segments:
  - {id: everyone, layer: broad, when: 'true'}
slots:
  - id: hero
    default: {headline: Welcome}
    rules:
      - {id: keen, when: 'score.intent > 0.3', content: {headline: Welcome back}}
  - id: offer
    default: {headline: Nothing today}
experiments:
  - id: offer-test
    slot: offer
    audience: everyone
    salt: offer-test-1
    variants:
      - {id: free-shipping, weight: 50, content: {headline: Free shipping}}
      - {id: bundle-discount, weight: 50, content: {headline: 10% off}}
"""

#: A/B measurement: a 10% global holdout, an experiment on the `offer` slot (control 50 / treatment
#: 50) and a mobile rule on the `hero` slot (edge_server/harness/visitors.py drives visitors through it).
AB_MEASUREMENT = """\
strata: 1
name: sim
holdout: {percent: 10, salt: sim-holdout}
goals: [purchase]
segments:
  - {id: everyone, layer: broad, when: 'true'}
  - {id: mobile, layer: mid, when: 'device.type == "mobile"'}
slots:
  - id: hero
    default: {headline: Welcome}
    rules:
      - {id: mobile-hero, segment: mobile, content: {headline: Welcome on the go}}
  - id: offer
    default: {}
experiments:
  - id: checkout-offer
    slot: offer
    audience: everyone
    salt: checkout-offer-1
    variants:
      - {id: control, weight: 50, content: {headline: Free returns}}
      - {id: treatment, weight: 50, content: {headline: 10% off today}}
"""


def trailblazer_without_holdout() -> str:
    """The demo rule set with its 5% holdout set to 0. Servers give each new visitor a random session
    id, so a test expecting personalized content from a fresh visitor would fail in 1 run of 20.
    Its model's coefficients are inlined, so the text compiles the same wherever it is written."""
    text = trailblazer_inline_coefficients()
    assert "holdout:\n  percent: 5\n" in text, "the demo's holdout block changed: update compiler/harness/fixtures.py"
    return text.replace("holdout:\n  percent: 5\n", "holdout:\n  percent: 0\n")


def trailblazer_inline_coefficients() -> str:
    """The demo rule set with the coefficient file of its model (``coefficients: trailblazer/...``,
    relative to the rule set) written inline: a copy elsewhere would otherwise find no file and
    publish the model untrained."""
    import yaml

    text = TRAILBLAZER.read_text()
    line = "    coefficients: trailblazer/purchase_intent.coefficients.yaml\n"
    assert line in text, "the demo's model block changed: update compiler/harness/fixtures.py"
    coef = yaml.safe_load((TRAILBLAZER.parent / "trailblazer" / "purchase_intent.coefficients.yaml").read_text())
    inline = {"bias": coef["bias"], "weights": coef["weights"]}
    return text.replace(line, f"    coefficients: {json.dumps(inline)}\n")
