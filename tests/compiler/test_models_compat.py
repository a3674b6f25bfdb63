"""``score`` is reserved only in rule sets that declare models: an older rule set with a signal or
segment named ``score`` compiles as before, and its ``score.x`` reads that signal."""

from __future__ import annotations

import pytest

from tests.compiler.helpers import compile_text, errors_of

OLD = """\
strata: 1
name: shop
signals:
  score: {type: 'map(string, double)', category: contextual}
slots:
  - id: hero
    default: {headline: Hi}
    rules:
      - id: hot
        when: '"x" in score && score.x > 0.4'
        content: {headline: Buy}
"""

MODELS = """\
goals: [purchase]
models:
  intent:
    goal: purchase
    features:
      device: {signal: device.type, values: [mobile]}
    coefficients: {bias: 0}
"""


def test_models_compat_signal_named_score_compiles_without_models() -> None:
    ctx = compile_text(OLD)
    assert ctx.payload is not None
    assert "models" not in ctx.payload
    assert any(s["name"] == "score" for s in ctx.payload["signals"])


@pytest.mark.parametrize("text", [OLD, OLD.replace("signals:\n  score: {type: 'map(string, double)', category: contextual}\n",
                                                   "segments:\n  - {id: score, layer: broad, when: 'true'}\n").replace(
                                                       "'\"x\" in score && score.x > 0.4'", "score")])
def test_models_compat_score_is_reserved_once_models_are_declared(text: str) -> None:
    assert compile_text(text).payload is not None
    codes = [d.code for d in errors_of(text + MODELS)]
    assert "reserved-name" in codes
