"""``strata serve``: run the edge server with uvicorn on 127.0.0.1 (by default)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from .config import Config, ConfigError, default_state_dir, from_env, parse_cookie_keys
from .logs import configure_logging


def register(sub: Any) -> None:
    """Add the server's commands (``serve``, ``report``, ``plan``, ``rebalance``) to the ``strata`` parser (``runtime/cli.py``)."""
    from .reporting.plan import add_parser as add_plan_parser

    add_parser(sub)
    add_report_parser(sub)
    add_plan_parser(sub)
    add_rebalance_parser(sub)


def add_parser(sub: Any) -> None:
    s = sub.add_parser(
        "serve",
        help="run the edge server",
        description="Production: strata serve --bundle PATH_OR_URL --pub PUB [--pub PUB2]. "
        "Development: strata serve RULESET (compiled with a throw-away key, recompiled when the file changes; a broken edit "
        "is reported and the last good version keeps serving). Every flag has a STRATA_* environment variable (docs/server.md).",
    )
    s.add_argument("ruleset", nargs="?", help="rule-set YAML (development mode)")
    s.add_argument("--bundle", help="bundle file or http(s) URL to poll (production)")
    s.add_argument("--pub", action="append", default=None, help="trusted public key file (repeat for rotation)")
    s.add_argument("--bundle-name", help="the rule set this server serves; bundles of another name are refused (default: pinned by the first bundle loaded)")
    s.add_argument("--state-dir", help="directory keeping the highest bundle version seen, so a restart cannot be rolled back, "
                   "in one file per bundle source (default $STATE_DIRECTORY, else $XDG_STATE_HOME/strata, else ~/.local/state/strata)")
    s.add_argument("--state-file", help="the rollback state file itself, instead of the one of this bundle source in --state-dir "
                   "(to share one floor between sources on purpose, or to start afresh)")
    s.add_argument("--host", help="address to bind (default 127.0.0.1)")
    s.add_argument("--port", type=int, help="port (default 8080)")
    s.add_argument("--pages", help="directory of HTML pages to personalise (page mode)")
    s.add_argument("--origin", help="origin URL to fetch HTML from and personalise (page mode)")
    s.add_argument("--debug", action="store_true", default=None, help="explain traces (?explain=1) and the debug overlay in pages")
    s.add_argument("--poll-interval", type=float, help="seconds between checks of the bundle source (default 10; 1 in development)")
    s.add_argument("--country-header", help="CDN header carrying the visitor's country (default CF-IPCountry)")
    s.add_argument("--timezone", help="IANA time zone for time.hour and time.weekday (default UTC)")
    s.add_argument("--cookie-keys", help="session cookie keys KID:BASE64[,KID:BASE64...]; the first encrypts (prefer STRATA_COOKIE_KEYS)")
    s.add_argument("--cookie-name", help="name of the session cookie (default strata_session)")
    s.add_argument("--consent-cookie", help="cookie whose value 0/no/false/deny means the visitor said no (default strata_consent)")
    s.add_argument("--insecure-cookie", action="store_true", help="omit the Secure cookie attribute (plain-http development; default in development mode)")
    s.add_argument("--max-body", type=int, help="request body limit in bytes (default 16384)")
    s.add_argument("--stats-token", help="bearer token that enables GET /v1/stats and protects /metrics (prefer STRATA_STATS_TOKEN)")
    s.add_argument("--ofrep-token", help="bearer token of server-side OpenFeature (OFREP) callers: only with it is a context's targetingKey "
                   "honoured (prefer STRATA_OFREP_TOKEN)")
    s.add_argument("--max-goal-value", type=float, help="largest goal value POST /v1/events accepts (default 1000000; larger: 422)")
    s.add_argument("--events-origin", action="append", default=None,
                   help="browser origin (scheme://host[:port]) besides the server's own allowed to POST /v1/events (repeat)")
    s.add_argument("--counters-secret", help="aggregated fleet counting: accept POST /v1/counters batches signed with this secret, "
                   "the workers' STRATA_COUNTERS_SECRET (prefer STRATA_COUNTERS_SECRET; needs --state-dir)")
    s.add_argument("--fleet-ledger", nargs="+", metavar="URL", default=None,
                   help="conversions once per visit across the fleet: the base URLs of the strata serve replicas that hold the fleet's "
                   "claims (this one's own URL included when it is one; the same list on every server and worker, STRATA_FLEET_LEDGER); "
                   "claims are signed with --counters-secret")
    s.add_argument("--counters-window", type=float, help="seconds a pushed batch's id is remembered against replays (default 3600)")
    s.add_argument("--workers", type=int, help="worker processes on the one port (default 1); metrics add up across them")
    s.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    s.set_defaults(func=cmd_serve)


def add_report_parser(sub: Any) -> None:
    r = sub.add_parser(
        "report",
        help="experiment and layer results from stats snapshots or /metrics scrapes",
        description="Sum the aggregate counters of one or many edge nodes (GET /v1/stats snapshots, or Prometheus text from /metrics) and report, "
        "per experiment, conversion rate per variant with a 95%% interval, lift against the control variant and the holdout with a "
        "two-sided test, and a sample-ratio check; per layer, lift of personalised traffic against the holdout. docs/measurement.md.",
    )
    r.add_argument("snapshots", nargs="*", help="snapshot JSON files or /metrics scrapes (several nodes, several times); or --prometheus")
    r.add_argument("--goal", help="goal to analyse (default: purchase if present, else the first goal)")
    r.add_argument("--html", help="also write a self-contained HTML page with plots to this file")
    g = r.add_argument_group("always-valid results, power and guardrails (docs/measurement.md)")
    g.add_argument("--fixed-horizon", action="store_true",
                   help="the classic fixed-sample statistics (Wilson, delta-method lift, z-test) for a pre-registered analysis read once at its planned "
                   "sample, instead of the always-valid intervals and the verdicts")
    g.add_argument("--mde", type=_fraction("--mde"), metavar="LIFT",
                   help="also say how many more days each experiment needs to detect this relative lift at its observed traffic, e.g. 10%%")
    g.add_argument("--expected-lift", type=_fraction("--expected-lift"), default=None, metavar="LIFT",
                   help="the effect you expect, which tunes the always-valid test (its mixing variance): smaller detects small effects sooner "
                   "and large ones later (default 10%%)")
    g.add_argument("--ruleset", metavar="YAML", help="the rule set whose guardrails: (goals that must not get worse) the report flags when "
                   "harmed, and whose uplift models describe the strata where the counters do not (/metrics scrapes, Prometheus)")
    g.add_argument("--every", metavar="DURATION", help="with --prometheus: also read the fleet's totals every DURATION back from --until "
                   "(e.g. 1d) for the confidence sequence over time and the traffic per day (snapshot files give them by themselves)")
    _allocation_args(r)
    _prometheus_args(r)
    r.set_defaults(func=cmd_report)


def _fraction(flag: str) -> Any:
    from .reporting.plan import fraction

    return fraction(flag, high=10.0)


def _settings(a: argparse.Namespace) -> Any:
    """The report's statistics settings from its flags (the guardrails read from --ruleset)."""
    from runtime.cli import UserError

    from .reporting import sequential
    from .reporting.verdicts import Settings

    guardrails: dict[str, str] = {}
    if a.ruleset:
        try:
            from compiler.errors import CompileError
            from compiler.pipeline import Options, run
        except ImportError as e:
            raise UserError(f"--ruleset needs the [compiler] extra (missing module {e.name}): pip install 'strata-edge[compiler]'") from None
        try:
            ctx = run(a.ruleset, Options(stop_after="resolve"))
        except CompileError as e:
            raise UserError(f"{a.ruleset} does not load:\n" + "\n".join(d.display() for d in e.diagnostics)) from None
        except OSError as e:
            raise UserError(f"--ruleset {a.ruleset}: {e.strerror}") from None
        assert ctx.ruleset is not None
        guardrails = dict(ctx.ruleset.guardrails)
        # the models as the rule set declares them: the strata of post-stratification where the counters
        # come without a description (/metrics scrapes, Prometheus)
        a.model_specs = {m.id: {"spec": m.spec, "fit": m.fit, "goal": m.goal, "uplift": m.uplift,
                                "features": {f.id: list(f.levels) for f in m.features}} for m in ctx.ruleset.models}
    return Settings(expected_lift=a.expected_lift or sequential.EXPECTED_LIFT, mde=a.mde, guardrails=guardrails, fixed_horizon=a.fixed_horizon)


def _allocation_args(p: Any) -> None:
    p.add_argument("--min-share", type=_share, default=0.05, help="smallest weight a suggestion gives any arm, as a fraction (default 0.05)")
    p.add_argument("--seed", type=int, default=0, help="seed of the Monte Carlo draws behind the suggested weights (default 0)")


def _prometheus_args(p: Any) -> None:
    from .reporting.prometheus import add_arguments

    add_arguments(p)


def _share(v: str) -> float:
    x = float(v)
    if not 0 <= x < 1:
        raise argparse.ArgumentTypeError("--min-share must be a fraction in [0, 1), e.g. 0.05")
    return x


def _goal(a: argparse.Namespace, data: Any) -> str:
    from .reporting.report import goals_in

    goals = goals_in(data)
    return str(a.goal or ("purchase" if "purchase" in goals else (goals[0] if goals else "purchase")))


def cmd_report(a: argparse.Namespace) -> int:
    from .reporting.counters import ReportError
    from .reporting.prometheus import load
    from .reporting.report import render_html, text

    settings = _settings(a)
    try:
        data = load(a, a.snapshots)
    except ReportError as e:
        print(f"strata report: error: {e}", file=sys.stderr)
        return 1
    for mid, spec in getattr(a, "model_specs", {}).items():
        data.model_specs.setdefault(mid, spec)
    goal = _goal(a, data)
    print(text(data, goal, min_share=a.min_share, seed=a.seed, settings=settings), end="")
    if a.html:
        from pathlib import Path

        Path(a.html).write_text(render_html(data, goal, min_share=a.min_share, seed=a.seed, settings=settings), encoding="utf-8")
        print(f"wrote {a.html}")
    return 0


def add_rebalance_parser(sub: Any) -> None:
    r = sub.add_parser(
        "rebalance",
        help="write the report's suggested experiment weights into the rule set",
        description="Suggest new variant weights per experiment from the cohort counters of stats snapshots or /metrics scrapes (Thompson "
        "sampling, a minimum share per arm; none while a period's sample ratio is flagged or data is thin) and write them into the rule "
        "set in place: only the weight: values change (and version: grows by one when present); comments and layout stay. Sessions keep "
        "their arm after a reweighting; new sessions follow the new weights. docs/measurement.md.",
    )
    r.add_argument("ruleset", help="rule-set YAML to rewrite")
    r.add_argument("snapshots", nargs="*", help="snapshot JSON files or /metrics scrapes (several nodes, several times); or --prometheus")
    r.add_argument("--goal", help="goal to optimise (default: purchase if present, else the first goal)")
    r.add_argument("--dry-run", action="store_true", help="print old -> new weights, do not write")
    _allocation_args(r)
    _prometheus_args(r)
    r.set_defaults(func=cmd_rebalance)


def cmd_rebalance(a: argparse.Namespace) -> int:
    from runtime.cli import UserError

    from .reporting.counters import ReportError
    from .reporting.prometheus import load
    from .reporting.rebalance import RebalanceError, check_compiles, describe, read_text, rebalance, skipped_lines, write

    try:
        from compiler.errors import CompileError
    except ImportError as e:  # the [compiler] extra (PyYAML) is not installed
        raise UserError(f"'strata rebalance' needs the [compiler] extra (missing module {e.name}): pip install 'strata-edge[compiler]'") from None
    try:
        data = load(a, a.snapshots)
        text = read_text(a.ruleset)
        goal = _goal(a, data)
        p = rebalance(a.ruleset, text, data, goal, min_share=a.min_share, seed=a.seed)
    except (ReportError, RebalanceError) as e:
        raise UserError(str(e)) from None
    except CompileError as e:
        raise UserError(f"{a.ruleset} does not load:\n" + "\n".join(d.display() for d in e.diagnostics)) from None
    for line in skipped_lines(p):
        print(line, file=sys.stderr)
    if not p.changes:
        if p.unchanged and not p.skipped:
            print("\n".join(describe(p)))
            return 0
        raise UserError(f"nothing rebalanced for goal '{goal}' (see above); {a.ruleset} is unchanged")
    try:
        check_compiles(a.ruleset, p.text)
    except CompileError as e:
        raise UserError("the rebalanced rule set would not compile (nothing written):\n" + "\n".join(d.display() for d in e.diagnostics)) from None
    print("\n".join(describe(p)))
    if a.dry_run:
        print(f"dry run: {a.ruleset} not written")
    else:
        write(a.ruleset, p.text)
        print(f"wrote {a.ruleset}: compile and publish it; sessions already assigned keep their arm")
    return 0


def build_config(a: argparse.Namespace, env: dict[str, str] | None = None) -> Config:
    kw: dict[str, Any] = from_env(env)
    flags = {
        "ruleset": a.ruleset, "bundle": a.bundle, "public_keys": a.pub, "host": a.host, "port": a.port, "pages": a.pages,
        "origin": a.origin, "debug": a.debug, "poll_interval": a.poll_interval, "country_header": a.country_header,
        "timezone": a.timezone, "max_body_bytes": a.max_body, "stats_token": a.stats_token, "ofrep_token": a.ofrep_token, "workers": a.workers,
        "cookie_name": a.cookie_name, "consent_cookie": a.consent_cookie, "bundle_name": a.bundle_name, "state_dir": a.state_dir,
        "state_file": a.state_file,
        "max_goal_value": a.max_goal_value, "counters_secret": a.counters_secret, "counters_window": a.counters_window,
        "events_origins": a.events_origin, "fleet_ledger": a.fleet_ledger,
    }
    kw.update({k: v for k, v in flags.items() if v is not None})
    if a.cookie_keys:
        kw["cookie_keys"] = parse_cookie_keys(a.cookie_keys)
    if kw.get("ruleset"):
        kw.setdefault("poll_interval", 1.0)
        kw.setdefault("cookie_secure", False)
    elif kw.get("bundle"):
        kw.setdefault("state_dir", default_state_dir())  # production: rollback protection survives restarts
    if a.insecure_cookie:
        kw["cookie_secure"] = False
    cfg = Config(**kw)
    cfg.validate()
    return cfg


def _serve_workers(cfg: Config, log_level: str) -> int:
    """N uvicorn workers on one port. They share the cookie keys (generated here when none are
    configured, so a session is readable by every worker), in development the throw-away signing
    key (so every worker serves the same bundle), and a directory of counter files."""
    import os
    import shutil
    import tempfile
    import uuid

    import uvicorn

    from .asgi import ENV, dump
    from .session import ephemeral_keys

    if not cfg.cookie_keys:
        logging.getLogger("strata.server").warning("no cookie keys configured (STRATA_COOKIE_KEYS): using a random key for this run")
        cfg.cookie_keys = ephemeral_keys()
    if cfg.ruleset and cfg.dev_key is None:  # development: the workers sign with one throw-away key
        from compiler.keys import throwaway_key

        cfg.dev_key = throwaway_key().private_bytes_raw()
    share = tempfile.mkdtemp(prefix="strata-metrics-")
    cfg.metrics_dir = share
    cfg.instance_id = cfg.instance_id or uuid.uuid4().hex[:12]  # one identity for the run's workers (metrics.py)
    os.environ[ENV] = dump(cfg)
    os.environ["STRATA_LOG_LEVEL"] = log_level
    mode = f"development, {cfg.ruleset}" if cfg.ruleset else f"bundle {cfg.bundle}"
    print(f"strata serve: http://{cfg.host}:{cfg.port}/ ({mode}, {cfg.workers} workers, metrics shared in {share})", file=sys.stderr, flush=True)
    try:
        uvicorn.run("edge_server.asgi:app_from_env", factory=True, workers=cfg.workers, host=cfg.host, port=cfg.port,
                    access_log=False, log_level=log_level, server_header=False)
    finally:
        shutil.rmtree(share, ignore_errors=True)
    return 0


def _require_compiler() -> None:
    """Development mode compiles the rule set: say which extra brings the compiler."""
    try:
        import compiler.pipeline  # noqa: F401
    except ModuleNotFoundError as e:
        raise ConfigError(f"development mode (strata serve RULESET) compiles the rule set and needs the [compiler] extra "
                          f"(missing module {e.name}): pip install 'strata-edge[compiler]', or serve a compiled bundle with --bundle") from None


def cmd_serve(a: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app
    from .state import at_start as state_at_start

    configure_logging(a.log_level)
    try:
        cfg = build_config(a)
        if cfg.ruleset:
            _require_compiler()
        state_at_start(cfg, warn=False)  # an unusable state directory or a corrupt state file stops the start, before any worker
        if cfg.workers > 1:
            return _serve_workers(cfg, a.log_level)
        app = create_app(cfg)
    except ConfigError as e:
        print(f"strata serve: error: {e}", file=sys.stderr)
        return 1
    mode = f"development, {cfg.ruleset}" if cfg.ruleset else f"bundle {cfg.bundle}"
    pages = f", pages from {cfg.pages}" if cfg.pages else (f", pages from {cfg.origin}" if cfg.origin else "")
    print(f"strata serve: http://{cfg.host}:{cfg.port}/ ({mode}{pages}{', debug' if cfg.debug else ''})", file=sys.stderr, flush=True)
    # access_log=False: uvicorn's access log carries client IPs; Strata logs its own line without them.
    uvicorn.run(app, host=cfg.host, port=cfg.port, access_log=False, log_level=a.log_level, server_header=False)
    return 0
