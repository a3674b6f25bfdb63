"""The fleet's totals from Prometheus, for ``strata report``, ``strata train`` and ``strata rebalance``
(``--prometheus URL``; docs/deployment.md "Fleet counting").

Every Strata process — a ``strata serve`` replica scraped at ``/metrics``, an edge-worker isolate
pushing with remote write — keeps **cumulative** counters in series of its own (its target labels:
``job`` and ``instance``). A fleet total is therefore each instance's **last value in the window**,
summed: ``last_over_time(family[window])`` at the window's end, one instant query per family
(``/api/v1/query``), grouped by the labels that are not the family's own. Counts are integers below
2^53, exact in Prometheus' float64 samples; a value that is not (negative, fractional, non-finite,
too large) is refused with the series that carries it. The result is one ``strata-stats/1``-shaped
snapshot per instance, summed by the same ``merge`` that sums snapshot files and scrapes.

The window selects *which* instances count (those with a sample in it), not a difference: each
instance's counters run from its start. An instance whose last sample is older than the window's
start is not counted. A series reset inside the window (a process restarted under the same target
labels) loses its counts before the restart: the number of such series is reported.
"""

from __future__ import annotations

import argparse
import math
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..contract import METRIC_LABELS, MODEL_EVENTS
from . import validate
from .counters import MAX_READS, Data, ReportError, merge

#: The families the offline tools read, with their own labels (every other label names the instance).
FAMILIES: dict[str, tuple[str, ...]] = {name: METRIC_LABELS[name] for name in (
    "strata_slot_exposures_total", "strata_conversions_total", "strata_conversion_value_total", "strata_model_visits_total",
    "strata_experiment_cohort_total", "strata_experiment_cohort_value_total", "strata_experiment_variant_weight", "strata_bundle_info")}
#: Families whose values are sums of goal values (any finite number); the others count visits.
VALUES = {"strata_conversion_value_total", "strata_experiment_cohort_value_total"}
#: Largest count a float64 holds exactly.
MAX_EXACT = validate.MAX_EXACT
#: Largest answer read from Prometheus (bytes).
MAX_ANSWER = 256 * 1024 * 1024
DEFAULT_WINDOW = "30d"
_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d|w|y)$")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


class PrometheusError(ReportError):
    """Prometheus could not be asked, or answered something that is not a fleet's counters (the
    message names the URL or the series, and what to do)."""


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Window:
    since: float  # seconds since the epoch
    until: float

    @property
    def seconds(self) -> int:
        return max(1, math.ceil(self.until - self.since))

    def describe(self) -> str:
        return f"{_utc(self.since)} .. {_utc(self.until)}"


@dataclass
class Fleet:
    """What was read: the data (as ``counters.load`` gives it), over which window, from how many instances."""

    data: Data
    window: Window
    instances: int
    resets: int  # series that went down inside the window (a restart under the same target labels)
    url: str

    def summary(self) -> str:
        line = f"{self.url}: {self.instances} instance{'s' if self.instances != 1 else ''} summed (each one's last values in {self.window.describe()})"
        if self.resets:
            line += (f"; {self.resets} series were reset inside the window (a process restarted under the same job/instance labels): "
                     "their counts before the restart are not included")
        return line


# ---------------------------------------------------------------------------------- arguments
def add_arguments(p: argparse.ArgumentParser) -> None:
    """``--prometheus URL`` and its window and authentication flags."""
    g = p.add_argument_group("reading the fleet from Prometheus (docs/deployment.md, Fleet counting)")
    g.add_argument("--prometheus", metavar="URL", help="Prometheus HTTP API base URL (e.g. http://prometheus:9090, or Mimir's "
                   "https://mimir.example/prometheus): read the fleet's totals there instead of files")
    g.add_argument("--since", metavar="TIME", help="window start: RFC 3339 (2026-12-01T00:00:00Z) or seconds since the epoch")
    g.add_argument("--until", metavar="TIME", help="window end (default: now)")
    g.add_argument("--window", metavar="DURATION", help=f"window length ending at --until, e.g. 7d, 12h (default {DEFAULT_WINDOW} without --since)")
    g.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                   help="HTTP header for every query (repeat), e.g. 'X-Scope-OrgID: tenant-1'")
    g.add_argument("--bearer-token-file", metavar="FILE", help="send 'Authorization: Bearer <the file's content>'")


def _time(v: str, flag: str) -> float:
    try:
        return float(v)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        hint = f" (for the last {v} ending at --until, give --window {v})" if flag == "--since" and _DURATION.match(v) else ""
        raise PrometheusError(f"{flag} {v!r}: give RFC 3339 (2026-12-01T00:00:00Z) or seconds since the epoch{hint}") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.timestamp()


def duration(v: str, flag: str = "--window") -> float:
    """Seconds of a Prometheus-style duration (``30d``, ``12h``, ``90m``)."""
    m = _DURATION.match(v.strip())
    if not m or int(m.group(1)) == 0:
        raise PrometheusError(f"{flag} {v!r}: give a duration such as 7d, 12h or 90m")
    return int(m.group(1)) * _SECONDS[m.group(2)]


def window_of(a: argparse.Namespace, now: float | None = None) -> Window:
    until = _time(a.until, "--until") if a.until else (time.time() if now is None else now)
    if a.since and a.window:
        raise PrometheusError("--since and --window both say where the window starts: give one")
    since = _time(a.since, "--since") if a.since else until - duration(a.window or DEFAULT_WINDOW)
    if not since < until:
        raise PrometheusError(f"the window is empty: --since must be before --until ({Window(since, until).describe()})")
    return Window(since, until)


def headers_of(a: argparse.Namespace) -> dict[str, str]:
    out: dict[str, str] = {}
    for h in a.header:
        name, sep, value = h.partition(":")
        if not sep or not re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", name.strip()):
            raise PrometheusError(f"--header {h!r}: write NAME: VALUE, e.g. 'X-Scope-OrgID: tenant-1'")
        out[name.strip()] = value.strip()
    if a.bearer_token_file:
        try:
            with open(a.bearer_token_file, encoding="utf-8") as f:
                out["Authorization"] = "Bearer " + f.read().strip()
        except (OSError, UnicodeDecodeError) as e:
            raise PrometheusError(f"--bearer-token-file {a.bearer_token_file}: {getattr(e, 'strerror', None) or e}") from None
    return out


def read(a: argparse.Namespace) -> Fleet:
    """The fleet of ``--prometheus`` and its flags."""
    return fleet(a.prometheus, window_of(a), headers_of(a))


def load(a: argparse.Namespace, files: list[str]) -> Data:
    """What an offline tool reads: ``--prometheus`` (its summary printed to stderr) or the files, not both."""
    import sys

    from .counters import load as load_files

    every = getattr(a, "every", None)  # strata report only
    if a.prometheus is None:
        if a.since or a.until or a.window or a.header or a.bearer_token_file or every:
            raise PrometheusError("--since, --until, --window, --header, --bearer-token-file and --every go with --prometheus URL")
        if not files:
            raise PrometheusError("name stats snapshots or /metrics scrapes, or read them from Prometheus with --prometheus URL")
        return load_files(files)
    if files:
        raise PrometheusError(f"read either files ({files[0]}, ...) or --prometheus, not both")
    f = read(a)
    print(f.summary(), file=sys.stderr)
    if f.instances == 0:
        raise PrometheusError(f"{f.url}: no Strata series in {f.window.describe()} (widen --window; is Prometheus scraping the "
                              "replicas, and do the workers have STRATA_REMOTE_WRITE?)")
    if every:
        f.data.history = history(f, duration(every, "--every"), headers_of(a))
    return f.data


def read_times(window: Window, every: float, most: int = MAX_READS) -> list[float]:
    """The times of the reads over ``window``, every ``every`` seconds back from its end (at most
    ``most``, the latest kept), oldest first.

    >>> read_times(Window(0, 3 * 86400), 86400)
    [86400.0, 172800.0, 259200.0]
    """
    times: list[float] = []
    t = float(window.until)
    while t > window.since and len(times) < most:
        times.append(t)
        t -= every
    return times[::-1]


def history(f: Fleet, every: float, headers: dict[str, str]) -> list[tuple[float, Data]]:
    """The fleet's totals at each read time (``read_times``): what the fleet's cumulative counters
    held then — each instance's last values in the window up to that time, as at the window's end
    (an instant query at the read time). Earlier reads with no instance are left out. With fewer
    than two reads, no history."""
    times = read_times(f.window, every)
    if len(times) < 2:
        return []
    out = []
    for t in times[:-1]:
        past = fleet(f.url, Window(f.window.since, t), headers)
        if past.instances:
            out.append((t, past.data))
    return [*out, (times[-1], f.data)] if out else []


# ---------------------------------------------------------------------------------- querying
def _query(client: Any, url: str, promql: str, at: float) -> list[dict[str, Any]]:
    import httpx
    import orjson  # the [server] extra, as httpx

    endpoint = url.rstrip("/") + "/api/v1/query"
    try:
        with client.stream("POST", endpoint, data={"query": promql, "time": f"{at:.3f}"}) as r:
            body = bytearray()
            for chunk in r.iter_bytes():
                body += chunk
                if len(body) > MAX_ANSWER:
                    raise PrometheusError(f"{endpoint}: the answer is larger than {MAX_ANSWER // 2**20} MiB; narrow the window")
            status = r.status_code
    except httpx.HTTPError as e:
        raise PrometheusError(f"cannot query {endpoint}: {type(e).__name__}: {e} (is Prometheus running there? "
                              "the URL is the server's base, e.g. http://localhost:9090)") from None
    try:
        answer = orjson.loads(bytes(body))  # several times faster than json on a fleet's answer; nesting beyond 1,024 is an error
    except (ValueError, UnicodeDecodeError, RecursionError):
        answer = None
    if status != 200:
        detail = answer.get("error") if isinstance(answer, dict) else bytes(body[:200]).decode("utf-8", "replace")
        hint = " (credentials: --bearer-token-file or --header)" if status in (401, 403) else ""
        raise PrometheusError(f"{endpoint} answered HTTP {status}{hint}: {str(detail)[:300]}")
    if not isinstance(answer, dict):
        raise PrometheusError(f"{endpoint}: the answer is not JSON (is this the Prometheus HTTP API?)")
    if answer.get("status") != "success":
        raise PrometheusError(f"{endpoint}: query failed: {str(answer.get('error'))[:300]}")
    data = answer.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "vector" or not isinstance(data.get("result"), list):
        raise PrometheusError(f"{endpoint}: expected an instant vector for {promql!r}, got {str(data)[:200]}")
    for row in data["result"]:
        m, v = (row.get("metric"), row.get("value")) if isinstance(row, dict) else (None, None)
        if (not isinstance(m, dict) or not all(isinstance(k, str) and isinstance(x, str) for k, x in m.items())
                or not isinstance(v, list) or len(v) != 2 or not isinstance(v[1], str)):
            raise PrometheusError(f"{endpoint}: malformed sample in the answer to {promql!r}: {str(row)[:200]}")
    return data["result"]  # type: ignore[no-any-return]


def _number(family: str, labels: dict[str, str], raw: str) -> float | int:
    """A sample's value, checked by the one definition of a count or a goal-value sum (validate.py)."""
    def where() -> str:  # only on an error: a fleet's answer has tens of thousands of values
        return f"{family}{{{', '.join(f'{k}={v!r}' for k, v in sorted(labels.items()))}}}"

    try:
        v = validate.number(raw, where)
        return validate.amount(v, where) if family in VALUES else validate.count(v, where)
    except ReportError as e:  # the answer, not a file, is what is wrong
        raise PrometheusError(str(e)) from None


def _version(v: str) -> tuple[int, str]:
    return (int(v), v) if v.isdigit() else (-1, v)


def fleet(url: str, window: Window, headers: dict[str, str] | None = None, *, timeout: float = 60.0) -> Fleet:
    """Each instance's last values in ``window``, as counters.Data (the snapshot loader's structure)."""
    import httpx

    if not re.match(r"^https?://[^/?#\s]+", url or ""):
        raise PrometheusError(f"--prometheus {url!r}: give the server's base URL, e.g. http://localhost:9090")
    rng = f"[{window.seconds}s]"
    snaps: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    conv: dict[tuple[tuple[str, str], ...], dict[tuple[str, ...], dict[str, Any]]] = {}
    models: dict[tuple[tuple[str, str], ...], dict[tuple[str, ...], dict[str, Any]]] = {}
    cohorts: dict[tuple[tuple[str, str], ...], dict[tuple[str, ...], dict[str, Any]]] = {}
    order: dict[tuple[tuple[str, str], ...], dict[str, list[tuple[int, str, int]]]] = {}
    counted = "|".join(f for f in FAMILIES if f.endswith("_total") and f not in VALUES)
    queries = [f"last_over_time({family}{rng})" for family in FAMILIES] + [f'count(resets({{__name__=~"{counted}"}}{rng}) > 0)']
    with httpx.Client(headers=headers or {}, timeout=timeout, follow_redirects=False) as client, ThreadPoolExecutor(4) as pool:
        # the queries run side by side (Prometheus answers them on its cores); their answers are read in order
        answers = list(pool.map(lambda q: _query(client, url, q, window.until), queries))
        for family, rows in zip(FAMILIES, answers):
            own = FAMILIES[family]
            for row in rows:
                labels = {k: v for k, v in row["metric"].items() if k != "__name__"}
                inst = tuple(sorted((k, v) for k, v in labels.items() if k not in own))
                mine = {k: labels.get(k, "") for k in own}
                if not inst:
                    raise PrometheusError(f"{family}: a series without job or instance labels ({mine}): which process wrote it is unknown")
                value = _number(family, labels, row["value"][1])
                snap = snaps.get(inst)
                if snap is None:
                    snap = snaps[inst] = {"format": "prometheus", "instance": ",".join(f"{k}={v}" for k, v in inst), "generated": window.until,
                                          "experiments": {}, "exposures": []}
                if family == "strata_slot_exposures_total":
                    snap["exposures"].append({**mine, "count": value})
                elif family in ("strata_conversions_total", "strata_conversion_value_total"):
                    key = tuple(mine[k] for k in own)
                    r = conv.setdefault(inst, {}).setdefault(key, dict(mine, count=0, value=0.0))
                    r["count" if family == "strata_conversions_total" else "value"] = value
                elif family == "strata_model_visits_total":
                    if mine["event"] not in MODEL_EVENTS:
                        raise PrometheusError(f"{family}: event {mine['event']!r} is none of {', '.join(MODEL_EVENTS)}")
                    key = tuple(mine[k] for k in own[:-1])
                    models.setdefault(inst, {}).setdefault(key, dict(zip(own[:-1], key), **dict.fromkeys(MODEL_EVENTS, 0)))[mine["event"]] = value
                elif family == "strata_experiment_cohort_total":
                    key = tuple(mine[k] for k in own)
                    cohorts.setdefault(inst, {}).setdefault(key, dict(mine, value=0.0))["count"] = value
                elif family == "strata_experiment_cohort_value_total":
                    key = (mine["experiment"], mine["variant"], mine["period"], "converted", mine["goal"])
                    cohorts.setdefault(inst, {}).setdefault(key, dict(zip(FAMILIES["strata_experiment_cohort_total"], key), count=0))["value"] = value
                elif family == "strata_bundle_info":  # an instance that loaded several bundles in the window: the newest
                    old = snap.get("bundle")
                    if old is None or _version(mine["version"]) > _version(old["version"]):
                        snap["bundle"] = {"name": mine["name"], "version": mine["version"]}
                else:
                    pos = int(mine["index"]) if mine["index"].isdigit() else 1 << 30
                    order.setdefault(inst, {}).setdefault(mine["experiment"], []).append((pos, mine["variant"], int(value)))
                    snap["experiments"].setdefault(mine["experiment"], {"slot": mine["slot"] or None, "variants": []})
        resets = answers[-1]
    for inst, snap in snaps.items():
        snap["conversions"] = list(conv.get(inst, {}).values())
        snap["models"] = list(models.get(inst, {}).values())
        snap["cohorts"] = [{"count": 0, **r} for r in cohorts.get(inst, {}).values()]
        for eid, variants in order.get(inst, {}).items():
            e = snap["experiments"][eid]
            e["variants"] = [[v, bp] for _, v, bp in sorted(variants)]
            e["period"] = "/".join(str(bp) for _, bp in e["variants"])  # the weights the instance served last
    n_resets = sum(int(_number("count(resets(...))", {}, r["value"][1])) for r in resets)
    return Fleet(merge(list(snaps.values())), window, len(snaps), n_resets, url.rstrip("/"))
