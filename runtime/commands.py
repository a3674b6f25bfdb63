"""The ``strata`` commands that need the runtime alone: ``verify``, ``inspect``, ``eval``, ``diff``.

They work on the base install (``pip install strata-edge``), so a node that only serves bundles can
check and query them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from .cli import UserError
from .engine import Runtime
from .errors import BundleError
from .keys import KeyError_, trusted_keys
from .verify import decode_payload, unpack_envelope, verify_bundle


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise UserError(f"{path}: {e.strerror}") from None


def _keys(pubs: list[str]) -> dict[str, Any]:
    try:
        return trusted_keys(pubs)
    except KeyError_ as e:
        raise UserError(str(e)) from None


def _fmt_time(t: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def cmd_verify(a: argparse.Namespace) -> int:
    keys = _keys(a.pub)
    try:
        vb = verify_bundle(_read(a.bundle), keys, now=a.now, clock_skew=a.skew)
    except BundleError as e:
        print(f"{a.bundle}: refused ({e.code}): {e}", file=sys.stderr)
        return 1
    p = vb.payload
    print(f"{a.bundle}: OK {p['name']} v{p['version']} signed by {vb.key_id}, valid {_fmt_time(p['not_before'])} to {_fmt_time(p['expires'])}")
    return 0


def _unverified_payload(data: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        env = unpack_envelope(data)
        payload = decode_payload(env["payload"], env.get("codec", "xz"))
    except Exception as e:  # noqa: BLE001 - any failure means "not a bundle" here
        raise UserError(f"not a Strata bundle ({type(e).__name__}: {e})") from None
    return env, payload


def _summary(env: dict[str, Any], p: dict[str, Any], size: int) -> dict[str, Any]:
    return {
        "name": p["name"],
        "version": p["version"],
        "format": env["format"],
        "codec": env.get("codec", "xz"),
        "key_id": env["key_id"],
        "created": p["created"],
        "not_before": p["not_before"],
        "expires": p["expires"],
        "compiler": p.get("compiler"),
        "counts": {
            "signals": len(p["signals"]),
            "segments": len(p["segments"]),
            "slots": len(p["slots"]),
            "rules": sum(len(s["candidates"]) for s in p["slots"]),
            "experiments": len(p["experiments"]),
            "content": len(p["content"]),
        },
        "size": {"bundle": size, "payload_compressed": len(env["payload"])},
        "holdout_percent": (p["holdout"]["bp"] / 100) if p.get("holdout") else 0,
        "goals": p.get("goals", []),
    }


def cmd_inspect(a: argparse.Namespace) -> int:
    data = _read(a.bundle)
    env, p = _unverified_payload(data)
    s = _summary(env, p, len(data))
    if a.json:
        print(json.dumps(s, indent=2))
        return 0
    c = s["counts"]
    print(f"bundle     {a.bundle} ({s['size']['bundle']:,} bytes; signature NOT checked - use 'strata verify')")
    print(f"rule set   {s['name']} v{s['version']} (format {s['format']}, {s['compiler']})")
    print(f"key id     {s['key_id']}")
    print(f"valid      {_fmt_time(s['not_before'])} .. {_fmt_time(s['expires'])}")
    print(f"contents   {c['signals']} signals, {c['segments']} segments, {c['slots']} slots, {c['rules']} rules, "
          f"{c['experiments']} experiments, {c['content']} content blocks")
    print(f"holdout    {s['holdout_percent']:g}%")
    for m in p.get("models") or []:
        print(f"model      {m['id']} (goal {m['goal']}, {len(m['features'])} features, spec {m['spec']}, fit {m['fit']}"
              f"{', uplift' if m.get('uplift') else ''})")
    if a.verbose:
        for sl in p["slots"]:
            print(f"slot {sl['id']}: " + ", ".join(c["id"] for c in sl["candidates"]) or "(default only)")
    return 0


def _load_runtime(a: argparse.Namespace) -> Any:
    rt = Runtime(_keys(a.pub))
    try:
        rt.load(_read(a.bundle))
    except BundleError as e:
        raise UserError(f"{a.bundle}: refused ({e.code}): {e}") from None
    return rt


def cmd_eval(a: argparse.Namespace) -> int:
    rt = _load_runtime(a)
    if a.signals == "-":
        raw = sys.stdin.read()
    else:
        raw = _read(a.signals).decode("utf-8", "replace")
    try:
        signals = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as e:
        raise UserError(f"{a.signals}: not JSON: {e}") from None
    if not isinstance(signals, dict):
        raise UserError(f"{a.signals}: expected a JSON object of signal name -> value")
    prepared = rt.current
    _, dropped = prepared.prepare_signals(signals, True)
    for name in dropped:
        print(f"warning: signal {name} ignored ({'not declared' if name not in prepared.checkers else 'not a ' + prepared.signal_types[name]})", file=sys.stderr)
    slots = a.slots.split(",") if a.slots else None
    out = rt.decide(signals, slots, session_id=a.session_id, consent=not a.no_consent, explain=a.explain)
    if a.json or a.explain:
        print(json.dumps(out.to_dict(), indent=2, default=str))
        return 0
    for slot, d in out.decisions.items():
        who = d.variant and f"{d.experiment}/{d.variant}" or d.rule or "-"
        print(f"{slot:12} {d.reason:11} {who:30} {d.layer or '':9} {json.dumps(d.content, ensure_ascii=False)[:60]}")
    if out.scores:
        print("scores       " + ", ".join(f"{k}={v:.4f}" for k, v in out.scores.items()))
    return 0


def cmd_diff(a: argparse.Namespace) -> int:
    _, old = _unverified_payload(_read(a.old))
    _, new = _unverified_payload(_read(a.new))
    lines = []
    if old["name"] != new["name"]:
        lines.append(f"~ name {old['name']} -> {new['name']}")
    if old["version"] != new["version"]:
        lines.append(f"~ version {old['version']} -> {new['version']}")

    def by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {x["id"]: x for x in items}

    for kind, key in (("segment", "segments"), ("experiment", "experiments"), ("model", "models")):
        o, n = by_id(old.get(key) or []), by_id(new.get(key) or [])
        for k in sorted(o.keys() - n.keys()):
            lines.append(f"- {kind} {k}")
        for k in sorted(n.keys() - o.keys()):
            lines.append(f"+ {kind} {k}")
        for k in sorted(o.keys() & n.keys()):
            if _norm(o[k], old) != _norm(n[k], new):
                lines.append(f"~ {kind} {k}")
    os_, ns = by_id(old["slots"]), by_id(new["slots"])
    for k in sorted(os_.keys() - ns.keys()):
        lines.append(f"- slot {k}")
    for k in sorted(ns.keys() - os_.keys()):
        lines.append(f"+ slot {k}")
    for k in sorted(os_.keys() & ns.keys()):
        oc, nc = by_id(os_[k]["candidates"]), by_id(ns[k]["candidates"])
        if old["content"][os_[k]["default"]] != new["content"][ns[k]["default"]]:
            lines.append(f"~ slot {k} default content")
        for r in sorted(oc.keys() - nc.keys()):
            lines.append(f"- rule {k}/{r}")
        for r in sorted(nc.keys() - oc.keys()):
            lines.append(f"+ rule {k}/{r}")
        for r in sorted(oc.keys() & nc.keys()):
            if _norm(oc[r], old) != _norm(nc[r], new):
                lines.append(f"~ rule {k}/{r}")
        if [c["id"] for c in os_[k]["candidates"] if c["id"] in nc] != [c["id"] for c in ns[k]["candidates"] if c["id"] in oc]:
            lines.append(f"~ slot {k} rule order")
    print("\n".join(lines) if lines else "no differences in rules, segments, experiments or content")
    return 0


def _norm(item: dict[str, Any], payload: dict[str, Any]) -> Any:
    """Compare items by meaning: content by value, not by table index; segments by id."""
    out = dict(item)
    if "content" in out and isinstance(out["content"], int):
        out["content"] = payload["content"][out["content"]]
    if "variants" in out:
        out["variants"] = [[v[0], v[1], payload["content"][v[2]]] for v in out["variants"]]
    if "segment" in out:
        out["segment"] = payload["segments"][out["segment"]]["id"]
    if "when" in out:
        out["when"] = _seg_names(out["when"], payload)
    if "features" in out:  # a model: signals by name, its experiment by id
        out["features"] = [f | {"signal": payload["signals"][f["signal"]]["name"]} if "signal" in f else f for f in out["features"]]
        u = out.get("uplift")
        if u and "experiment" in u:
            out["uplift"] = u | {"experiment": payload["experiments"][u["experiment"]]["id"]}
    return out


def _seg_names(ir: Any, payload: dict[str, Any]) -> Any:
    if isinstance(ir, list):
        if ir and ir[0] == 3 and len(ir) == 2 and isinstance(ir[1], int):  # SEG
            return ["SEG", payload["segments"][ir[1]]["id"]]
        if ir and ir[0] == 2 and len(ir) == 2 and isinstance(ir[1], int):  # SIG
            return ["SIG", payload["signals"][ir[1]]["name"]]
        if ir and ir[0] == 18 and len(ir) == 2 and isinstance(ir[1], int):  # SCORE
            return ["SCORE", payload["models"][ir[1]]["id"]]
        return [_seg_names(x, payload) for x in ir]
    return ir


def register(sub: Any) -> None:
    """Add the runtime's commands to the ``strata`` parser (see ``runtime/cli.py``)."""
    v = sub.add_parser("verify", help="check a bundle's signature, key and validity window", description="Exit 0 only if format, key, signature and time window hold.")
    v.add_argument("bundle")
    v.add_argument("--pub", action="append", required=True, help="trusted public key file (repeat for several keys)")
    v.add_argument("--now", type=float, help="check validity at this Unix time instead of now")
    v.add_argument("--skew", type=float, default=300, help="allowed clock skew in seconds (default 300)")
    v.set_defaults(func=cmd_verify)

    i = sub.add_parser("inspect", help="show what a bundle contains (does not verify it)")
    i.add_argument("bundle")
    i.add_argument("--json", action="store_true", help="machine-readable output")
    i.add_argument("-v", "--verbose", action="store_true", help="list each slot's rules in precedence order")
    i.set_defaults(func=cmd_inspect)

    e = sub.add_parser("eval", help="decide for a set of signals from a bundle", description="Verify a bundle and decide every (or the given) slot for the signals in FILE (JSON object, '-' for stdin).")
    e.add_argument("bundle")
    e.add_argument("--pub", action="append", required=True, help="trusted public key file")
    e.add_argument("--signals", required=True, help="JSON file of signal name -> value ('-' for stdin)")
    e.add_argument("--slots", help="comma-separated slot ids (default: all)")
    e.add_argument("--session-id", default="strata-eval-session", help="session id for holdout and experiment bucketing")
    e.add_argument("--no-consent", action="store_true", help="decide as for a visitor who did not consent")
    e.add_argument("--explain", action="store_true", help="show every candidate considered and why")
    e.add_argument("--json", action="store_true", help="JSON output")
    e.set_defaults(func=cmd_eval)

    d = sub.add_parser("diff", help="what changed between two bundles (rules, segments, experiments, content)")
    d.add_argument("old")
    d.add_argument("new")
    d.set_defaults(func=cmd_diff)
