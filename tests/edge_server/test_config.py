"""strata serve's settings: flags and STRATA_* variables are read as documented (flags win), and
bad values are refused with the setting's name."""

from __future__ import annotations

import argparse
import re

import pytest

from compiler.harness.fixtures import TRAILBLAZER
from edge_server.cli import build_config
from edge_server.config import ENV, Config, ConfigError, from_env
from tests.compiler.helpers import subcommand_parsers


def serve_parser() -> argparse.ArgumentParser:
    return subcommand_parsers()["serve"]


def test_config_from_env_reads_each_kind():
    kw = from_env({"STRATA_PORT": "9000", "STRATA_POLL_INTERVAL": "2.5", "STRATA_DEBUG": "yes", "STRATA_PUB": "a.pub,b.pub",
                   "STRATA_COOKIE_NAME": "sid", "STRATA_CONSENT_COOKIE": "cmp_ok", "STRATA_COOKIE_KEYS": "k1:" + "A" * 43 + "=",
                   "STRATA_HOST": ""})
    assert kw == {"port": 9000, "poll_interval": 2.5, "debug": True, "public_keys": ["a.pub", "b.pub"], "cookie_name": "sid",
                  "consent_cookie": "cmp_ok", "cookie_keys": {"k1": bytes(32)}}
    assert set(vars(Config())) >= {name for name, _ in ENV.values()}  # every variable names a real setting


@pytest.mark.parametrize(("env", "message"), [
    ({"STRATA_PORT": "80a"}, "STRATA_PORT='80a' is not a whole number"),
    ({"STRATA_CLOCK_SKEW": "soon"}, "STRATA_CLOCK_SKEW='soon' is not a number"),
    ({"STRATA_DEBUG": "maybe"}, "STRATA_DEBUG='maybe': use 1/0"),
    ({"STRATA_COOKIE_KEYS": "nokey"}, "write KEY_ID:BASE64"),
])
def test_config_from_env_names_the_bad_variable(env, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        from_env(env)


def test_config_flags_win_over_environment():
    a = serve_parser().parse_args([str(TRAILBLAZER), "--cookie-name", "sid", "--consent-cookie", "cmp_ok", "--port", "9001"])
    cfg = build_config(a, {"STRATA_COOKIE_NAME": "other", "STRATA_PORT": "9000", "STRATA_TIMEZONE": "Europe/Berlin"})
    assert (cfg.cookie_name, cfg.consent_cookie, cfg.port, cfg.timezone) == ("sid", "cmp_ok", 9001, "Europe/Berlin")


@pytest.mark.parametrize(("kw", "message"), [
    ({"cookie_name": "my session"}, "--cookie-name 'my session': a cookie name is"),
    ({"consent_cookie": "a;b"}, "--consent-cookie 'a;b'"),
    ({"cookie_name": "same", "consent_cookie": "same"}, "need two cookies"),
])
def test_config_refuses_cookie_names_that_would_break_headers(kw, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        Config(ruleset=str(TRAILBLAZER), **kw).validate()


def test_config_development_needs_an_existing_rule_set(tmp_path):
    with pytest.raises(ConfigError, match="missing.yaml: no such rule-set file"):
        Config(ruleset=str(tmp_path / "missing.yaml")).validate()
    Config(ruleset="https://rules.example/site.yaml").validate()  # fetched when serving, like a bundle URL


def test_config_state_dir_defaults_in_production_only(tmp_path):
    """--bundle keeps rollback state by default (documented location); development keeps none;
    the flag and STRATA_STATE_DIR / STRATA_BUNDLE_NAME set it."""
    from edge_server.config import default_state_dir

    prod = serve_parser().parse_args(["--bundle", "site.bundle", "--pub", "k.pub"])
    assert build_config(prod, {}).state_dir == default_state_dir()
    assert build_config(prod, {"STRATA_STATE_DIR": str(tmp_path), "STRATA_BUNDLE_NAME": "site"}).state_dir == str(tmp_path)
    assert build_config(prod, {"STRATA_BUNDLE_NAME": "site"}).bundle_name == "site"
    flagged = serve_parser().parse_args(["--bundle", "site.bundle", "--pub", "k.pub", "--state-dir", "/x", "--bundle-name", "b"])
    assert (build_config(flagged, {"STRATA_STATE_DIR": "/y"}).state_dir, build_config(flagged, {}).bundle_name) == ("/x", "b")
    assert build_config(serve_parser().parse_args([str(TRAILBLAZER)]), {}).state_dir is None
    with pytest.raises(ConfigError, match="--bundle-name"):
        Config(bundle="site.bundle", public_keys=["k.pub"], bundle_name=" padded ").validate()


def test_config_default_state_dir_follows_systemd_and_xdg(monkeypatch, tmp_path):
    from edge_server.config import default_state_dir

    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/strata:/var/lib/other")
    assert default_state_dir() == "/var/lib/strata"
    monkeypatch.delenv("STATE_DIRECTORY")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_state_dir() == str(tmp_path / "strata")


def test_config_events_settings_from_flags_and_environment():
    a = serve_parser().parse_args([str(TRAILBLAZER), "--max-goal-value", "250", "--events-origin", "https://a.example",
                                   "--events-origin", "http://b.example:8080"])
    cfg = build_config(a, {"STRATA_MAX_GOAL_VALUE": "99", "STRATA_EVENTS_ORIGINS": "https://c.example"})
    assert (cfg.max_goal_value, cfg.events_origins) == (250.0, ["https://a.example", "http://b.example:8080"])
    cfg = build_config(serve_parser().parse_args([str(TRAILBLAZER)]), {"STRATA_MAX_GOAL_VALUE": "99", "STRATA_EVENTS_ORIGINS": "https://c.example,https://d.example"})
    assert (cfg.max_goal_value, cfg.events_origins) == (99.0, ["https://c.example", "https://d.example"])
    assert Config().max_goal_value == 1_000_000


@pytest.mark.parametrize(("kw", "message"), [
    ({"max_goal_value": 0.0}, "--max-goal-value 0.0: give a positive number"),
    ({"max_goal_value": -5.0}, "--max-goal-value -5.0"),
    ({"max_goal_value": float("inf")}, "--max-goal-value inf"),
    ({"max_goal_value": float("nan")}, "--max-goal-value nan"),
    ({"events_origins": ["www.example.com"]}, "--events-origin 'www.example.com': write an origin"),
    ({"events_origins": ["https://example.com/shop"]}, "--events-origin 'https://example.com/shop'"),
    ({"events_origins": ["https://user@example.com"]}, "--events-origin 'https://user@example.com'"),
])
def test_config_refuses_bad_events_settings(kw, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        Config(ruleset=str(TRAILBLAZER), **kw).validate()
