"""The strata command as a user runs it: exit status 0 / 1 (user error, message on stderr) / 2 (usage)."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys

import pytest

from compiler.harness.fixtures import ROOT, TRAILBLAZER


def strata(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runtime.cli", *args], cwd=ROOT, capture_output=True, text=True, input=input,
                          env=env or dict(os.environ))


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    r = strata("keygen", "-o", str(d / "site"))
    assert r.returncode == 0, r.stderr
    return d / "site.key", d / "site.pub", r.stdout.split()[2]


@pytest.fixture(scope="module")
def bundle(keys, tmp_path_factory):
    out = tmp_path_factory.mktemp("b") / "tb.bundle"
    r = strata("compile", str(TRAILBLAZER), "-k", str(keys[0]), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "compiled trailblazer" in r.stdout
    return out


def test_cli_keygen_private_key_is_0600_and_prints_key_id(keys):
    priv, pub, kid = keys
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert pub.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert len(kid) == 16 and int(kid, 16) >= 0


def test_cli_keygen_refuses_to_overwrite(keys):
    r = strata("keygen", "-o", str(keys[0].with_suffix("")))
    assert r.returncode == 1 and "already exists" in r.stderr


def test_cli_verify_ok_and_inspect(bundle, keys):
    r = strata("verify", str(bundle), "--pub", str(keys[1]))
    assert r.returncode == 0 and "OK trailblazer" in r.stdout and keys[2] in r.stdout
    r = strata("inspect", str(bundle), "--json")
    info = json.loads(r.stdout)
    assert info["counts"] == {"signals": 31, "segments": 6, "slots": 4, "rules": 8, "experiments": 1, "content": 13}
    assert info["key_id"] == keys[2] and info["size"]["bundle"] == bundle.stat().st_size


def test_cli_compile_codec_gzip_verifies_and_inspects_as_the_xz_bundle(bundle, keys, tmp_path):
    out = tmp_path / "tb-gzip.bundle"
    r = strata("compile", str(TRAILBLAZER), "-k", str(keys[0]), "-o", str(out), "--codec", "gzip")
    assert r.returncode == 0, r.stderr
    assert strata("verify", str(out), "--pub", str(keys[1])).returncode == 0
    gz, xz = (json.loads(strata("inspect", str(b), "--json").stdout) for b in (out, bundle))
    assert (gz["format"], gz["codec"], xz["format"], xz["codec"]) == (2, "gzip", 1, "xz")
    assert gz["counts"] == xz["counts"]


def test_cli_verify_fails_on_flipped_byte_with_reason(bundle, keys, tmp_path):
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0x01
    bad = tmp_path / "bad.bundle"
    bad.write_bytes(bytes(data))
    r = strata("verify", str(bad), "--pub", str(keys[1]))
    assert r.returncode == 1 and "refused" in r.stderr


def test_cli_verify_fails_with_other_key(bundle, tmp_path):
    strata("keygen", "-o", str(tmp_path / "other"))
    r = strata("verify", str(bundle), "--pub", str(tmp_path / "other.pub"))
    assert r.returncode == 1 and "refused (unknown_key)" in r.stderr


def test_cli_verify_fails_when_expired(bundle, keys):
    r = strata("verify", str(bundle), "--pub", str(keys[1]), "--now", str(4_000_000_000))
    assert r.returncode == 1 and "refused (expired)" in r.stderr


def test_cli_test_runs_the_example_cases():
    r = strata("test", str(TRAILBLAZER))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().splitlines()[-1] == "21 passed, 0 failed"


def test_cli_test_reports_failures_with_location(tmp_path):
    text = TRAILBLAZER.read_text().replace("hero: {rule: tent-hero, layer: mid, segment: tent_viewer}", "hero: {rule: camping-welcome}")
    f = tmp_path / "tb.yaml"
    f.write_text(text)
    (tmp_path / "trailblazer").mkdir()
    (tmp_path / "trailblazer" / "purchase_intent.coefficients.yaml").write_bytes((TRAILBLAZER.parent / "trailblazer" / "purchase_intent.coefficients.yaml").read_bytes())
    r = strata("test", str(f))
    assert r.returncode == 1
    assert f"FAIL tent browsers get the tent hero ({f}:" in r.stdout
    assert "hero.rule: expected 'camping-welcome', got 'tent-hero'" in r.stdout
    assert r.stdout.strip().splitlines()[-1] == "20 passed, 1 failed"


def test_cli_compile_error_exit_1_with_location(tmp_path, keys):
    f = tmp_path / "broken.yaml"
    f.write_text("strata: 1\nname: x\nslots:\n  - id: hero\n    default: {}\n    rules:\n      - {id: r, when: 'session.pageviews > 1', content: {}}\n")
    r = strata("compile", str(f), "-k", str(keys[0]), "-o", str(tmp_path / "o.bundle"))
    assert r.returncode == 1
    assert f"{f}:7:24: unknown-signal: session.pageviews is not declared (did you mean session.page_views?)" in r.stderr
    assert not (tmp_path / "o.bundle").exists()


def test_cli_eval_decides_and_explains(bundle, keys):
    signals = json.dumps({"device.type": "mobile", "session.recent_categories": ["tents"]})
    r = strata("eval", str(bundle), "--pub", str(keys[1]), "--signals", "-", "--slots", "hero", "--explain", input=signals)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    hero = out["slots"]["hero"]
    assert hero["rule"] == "tent-hero" and [t["candidate"] for t in hero["trace"]] == ["starter-kit", "tent-hero"]


def test_cli_diff_names_changed_rules(bundle, keys, tmp_path):
    text = TRAILBLAZER.read_text().replace("headline: Adventure, in your pocket", "headline: Adventure, anywhere")
    f = tmp_path / "tb2.yaml"
    f.write_text(text)
    out = tmp_path / "tb2.bundle"
    assert strata("compile", str(f), "-k", str(keys[0]), "-o", str(out)).returncode == 0
    r = strata("diff", str(bundle), str(out))
    assert "~ rule hero/mobile-hero" in r.stdout
    assert "camping-welcome" not in r.stdout


@pytest.mark.parametrize("cmd", ["keygen", "compile", "verify", "inspect", "test", "eval", "diff"])
def test_cli_help_for_each_command(cmd):
    r = strata(cmd, "--help")
    assert r.returncode == 0 and "usage: strata " + cmd in r.stdout


def test_cli_bad_usage_exits_2():
    r = strata("compile")
    assert r.returncode == 2 and "required" in r.stderr


def test_cli_missing_bundle_is_a_user_error(keys):
    r = strata("verify", "no-such.bundle", "--pub", str(keys[1]))
    assert r.returncode == 1 and "no-such.bundle" in r.stderr


def test_cli_docs_have_a_row_per_command_naming_its_options():
    import re

    from tests.compiler.helpers import subcommand_parsers

    rows = [line for line in (ROOT / "docs" / "cli.md").read_text(encoding="utf-8").splitlines() if line.startswith("| `strata ")]
    parsers = subcommand_parsers()
    assert len(parsers) >= 9
    for name, parser in parsers.items():
        row = next((r for r in rows if r.startswith(f"| `strata {name} ")), None)
        assert row is not None, f"docs/cli.md has no row for strata {name}"
        if name == "serve":
            continue  # its flags are in docs/server.md (tests/edge_server/test_docs.py)
        for action in parser._actions:
            if action.option_strings and "--help" not in action.option_strings:
                named = any(re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", row) for o in action.option_strings)
                assert named, f"strata {name} {action.option_strings} missing from docs/cli.md"


def test_cli_regex_refused_by_test_verify_and_eval_without_traceback(keys, tmp_path):
    """A pattern RE2 rejects is a compile error for ``strata test``; smuggled into a signed bundle,
    ``strata verify`` and ``strata eval`` refuse it with a message (never a traceback)."""
    from compiler.harness.fixtures import BASE
    from compiler.keys import load_private_key
    from runtime.format import Op
    from tests.runtime.test_verify import payload_of, resign

    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.replace('when: device.type == "mobile"', 'when: page.path.matches("([a-z")'))
    r = strata("test", str(bad))
    assert r.returncode == 1 and f"{bad}:6:29: invalid-regex: invalid regular expression `([a-z`: missing ]" in r.stderr
    assert "Traceback" not in r.stdout + r.stderr

    good = tmp_path / "good.yaml"
    good.write_text(BASE.replace('when: device.type == "mobile"', 'when: page.path.matches("^/tents/")'))
    out = tmp_path / "good.bundle"
    assert strata("compile", str(good), "-k", str(keys[0]), "-o", str(out)).returncode == 0
    p = payload_of(out.read_bytes())
    assert p["segments"][0]["when"][4] == [Op.LIT, "^/tents/"]
    p["segments"][0]["when"][4] = [Op.LIT, "([a-z"]
    smuggled = tmp_path / "smuggled.bundle"
    smuggled.write_bytes(resign(p, load_private_key(keys[0])))
    signals = tmp_path / "s.json"
    signals.write_text('{"page.path": "/tents/x"}')
    for args in (["verify", str(smuggled)], ["eval", str(smuggled), "--signals", str(signals)]):
        r = strata(*args, "--pub", str(keys[1]))
        assert r.returncode == 1, (args, r.stdout)
        assert "invalid_ir" in r.stderr and "invalid regular expression '([a-z': missing ]" in r.stderr
        assert "Traceback" not in r.stdout + r.stderr


def test_cli_eval_regex_on_a_lone_surrogate_is_an_error_value_not_a_traceback(keys, tmp_path):
    from compiler.harness.fixtures import BASE

    rs = tmp_path / "rx.yaml"
    rs.write_text(BASE.replace('when: device.type == "mobile"', 'when: page.path.matches("^/tents/")'))
    out = tmp_path / "rx.bundle"
    assert strata("compile", str(rs), "-k", str(keys[0]), "-o", str(out)).returncode == 0
    r = strata("eval", str(out), "--pub", str(keys[1]), "--signals", "-", "--explain", input='{"page.path": "/tents/\\ud800"}')
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert json.loads(r.stdout)["segments"]["mobile"] == {"error": "matches: the string is not valid Unicode (it holds a lone surrogate)"}


def test_cli_compile_summary_names_each_model_with_spec_and_fit(keys, tmp_path):
    rs = tmp_path / "m.yaml"
    rs.write_text(
        "strata: 1\nname: m\ngoals: [purchase]\nmodels:\n  intent:\n    goal: purchase\n"
        "    features: {device: {signal: device.type, values: [mobile]}}\n    coefficients: {bias: -1}\n"
        "slots:\n  - id: a\n    default: {}\n    rules:\n      - {id: r, when: score.intent > 0.4, content: {}}\n"
    )
    r = strata("compile", str(rs), "-k", str(keys[0]), "-o", str(tmp_path / "m.bundle"))
    assert r.returncode == 0, r.stderr
    assert re.search(r", 1 rules, 1 model \(intent spec [0-9a-f]{8} fit [0-9a-f]{8}\) -> ", r.stdout), r.stdout
