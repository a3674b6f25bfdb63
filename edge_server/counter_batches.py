"""Aggregated mode of fleet counting (docs/deployment.md, "Fleet counting"): edge-worker isolates
push the **deltas** of their counters to ``strata serve`` replicas (``POST /v1/counters``), which
add them up and are scraped as usual, so the fleet's series grow with replicas, not isolates. The
worker's side is ``edge_worker/worker/counter_batches.js``.

A batch (``strata-counters/1``) is JSON::

    {"format": "strata-counters/1", "id": "<isolate>-<n>", "instance": "<isolate>", "created": <ms>,
     "families": {"strata_slot_exposures_total": [[["hero", "r1", "", "personalized"], 3], ...], ...}}

each row the label values in the family's contract order (``FAMILIES``) and a positive delta.

- **Only the fleet can push**: ``X-Strata-Signature: v1=<hex HMAC-SHA256(secret, body)>`` with the
  secret shared by workers (``STRATA_COUNTERS_SECRET``) and replicas (``--counters-secret``), checked
  before the body is parsed. The body's ``created`` is inside the signature: a batch older than the
  dedup window (or from the future beyond the clock skew) is refused.
- **Idempotent**: the ids of the batches accepted within the window are remembered (bounded; when
  full, new batches wait with 503), so a retried, duplicated or replayed batch counts once.
- **Durable before acknowledged**: an accepted batch is appended to a journal in
  ``--state-dir/counters/`` and fsync'ed before the 200; a restart replays the journal (and the
  compacted snapshot), ids included. The workers of ``--workers N`` share the journal under a lock
  and each one catches up with it before deciding, so every process exports the same totals.
- The added counters are exported under their **own identity**: ``instance_id`` = an id kept in the
  state directory, so they continue across restarts as one cumulative series per replica, beside
  the process's own series (``instance_id`` random per ``strata serve`` start).
- Hostile batches (unknown families or labels, non-integer, negative, non-finite, too many rows or
  new series, over-long labels, deep or huge bodies) get a 4xx naming the row, cost at most the body
  limit, and change nothing: a batch is validated whole before anything is written.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import math
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from .contract import COUNTER_BATCH_FORMAT, METRIC_FAMILIES
from .errors import ApiError
from .tally import Tally

#: The batch format and the families a batch may carry, with their labels in order and whether
#: values are sums of goal values: the edge contract's (edge_contract.json), the worker's too.
FORMAT = COUNTER_BATCH_FORMAT
FAMILIES = METRIC_FAMILIES
#: Measurement's counters (measure.py) by family: what /v1/stats includes.
MEASURE = {"strata_slot_exposures_total": "exposures", "strata_conversions_total": "conversions",
           "strata_conversion_value_total": "values", "strata_model_visits_total": "models",
           "strata_experiment_cohort_total": "cohorts", "strata_experiment_cohort_value_total": "cohort_values"}
MAX_EXACT = 2**53
MAX_BODY = 8 * 1024 * 1024
MAX_ROWS = 20_000  # rows in one batch (the worker sends at most 5,000)
MAX_SERIES = 200_000  # label sets a replica adds up, all families together
MAX_LABEL = 256  # characters of one label value
MAX_IDS = 2_000_000  # batch ids remembered within the window
CLOCK_SKEW = 300.0  # seconds a batch's `created` may lie ahead of this replica's clock
COMPACT_BYTES = 64 * 1024 * 1024  # journal size that triggers a compaction
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
SIGNATURE = "x-strata-signature"


def sign(secret: str, body: bytes) -> str:
    """The ``X-Strata-Signature`` value of ``body``."""
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed(secret: str, body: bytes, given: str) -> bool:
    """Whether ``given`` (an ``X-Strata-Signature`` header) signs ``body`` with ``secret``, compared in constant time."""
    return hmac.compare_digest(given.encode(), sign(secret, body).encode())


class BatchError(ApiError):
    """A batch refused; ``result`` is how it is counted in strata_counter_batches_total."""

    def __init__(self, status: int, code: str, message: str, result: str, field: str | None = None):
        super().__init__(status, code, message, field)
        self.result = result


def created_at(d: dict[str, Any], now: float, max_age: float, body: str, subject: str,
               bad: Callable[[str, str], ApiError], stale: Callable[[float], ApiError]) -> float:
    """The ``created`` of a signed body (a counter batch, a ledger claim body) in seconds: whole
    milliseconds since the epoch (else ``bad``), at most ``max_age`` seconds old (else ``stale(age)``:
    the signature cannot tell an older body from a replay) and not beyond the clock skew ahead."""
    created = d.get("created")
    if type(created) is not int or created < 0:
        raise bad(f"created must be the {body}'s creation time in whole milliseconds since the epoch", "created")
    at = created / 1000
    if at < now - max_age:
        raise stale(now - at)
    if at > now + CLOCK_SKEW:
        raise bad(f"{subject} created {at - now:.0f} s in the future: check the clocks", "created")
    return at


def _bad(message: str, field: str | None = None) -> BatchError:
    return BatchError(422, "invalid_batch", message, "invalid", field)


def parse(body: bytes, now: float, window: float) -> tuple[str, float, dict[str, list[tuple[tuple[str, ...], float]]]]:
    """(id, created seconds, rows by family) of a signed batch's body, or BatchError (nothing changed)."""
    try:
        d = orjson.loads(body)  # rejects invalid UTF-8 and nesting deeper than 1024
    except orjson.JSONDecodeError as e:
        raise BatchError(400, "invalid_json", f"the batch is not JSON: {e.msg} at character {e.pos}", "invalid") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise _bad(f'a batch is an object with "format": "{FORMAT}"', "format")
    unknown = set(d) - {"format", "id", "instance", "created", "families"}
    if unknown:
        raise _bad(f"unknown field {sorted(unknown)[0]!r} (fields: format, id, instance, created, families)", sorted(unknown)[0])
    bid = d.get("id")
    if not isinstance(bid, str) or not _ID.match(bid):
        raise _bad("id must be 1 to 128 characters of letters, digits and _.:-", "id")
    if not isinstance(d.get("instance", ""), str) or len(d.get("instance", "")) > 128:
        raise _bad("instance must be a string of at most 128 characters", "instance")
    at = created_at(d, now, window, "batch", f"batch {bid} was", _bad, lambda age: BatchError(422, "batch_expired",
        f"batch {bid} was created {age:.0f} s ago, beyond the {window:.0f} s dedup window: "
        "it can no longer be told from a replay (the worker drops it and counts it)", "expired", "created"))
    fams = d.get("families")
    if not isinstance(fams, dict):
        raise _bad("families must be an object {family: [[label values], delta], ...}", "families")
    out: dict[str, list[tuple[tuple[str, ...], float]]] = {}
    rows = 0
    for name, lst in fams.items():
        spec = FAMILIES.get(name)
        if spec is None:
            raise _bad(f"unknown family {name[:80]!r}: a batch carries the families of docs/deployment.md's metric contract", "families")
        labels, is_value = spec
        if not isinstance(lst, list):
            raise _bad(f"{name}: a list of [[label values], delta] rows", f"families.{name}")
        rows += len(lst)
        if rows > MAX_ROWS:
            raise BatchError(413, "too_large", f"a batch carries at most {MAX_ROWS} rows: split it", "too_large", "families")
        got = out.setdefault(name, [])
        for i, row in enumerate(lst):
            where = f"families.{name}[{i}]"
            if not (isinstance(row, list) and len(row) == 2 and isinstance(row[0], list) and len(row[0]) == len(labels)):
                raise _bad(f"{where}: a row is [[{', '.join(labels)}], delta]", where)
            key = row[0]
            if not all(isinstance(x, str) and len(x) <= MAX_LABEL for x in key):
                raise _bad(f"{where}: label values are strings of at most {MAX_LABEL} characters", where)
            v = row[1]
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise _bad(f"{where}: the delta {str(v)[:40]!r} is not a number", where)
            if not math.isfinite(v) or v < 0:
                raise _bad(f"{where}: the delta {v!r} is negative or not finite; counters only grow", where)
            if not is_value and (v != int(v) or v > MAX_EXACT):
                raise _bad(f"{where}: the delta {v!r} of a count must be a whole number up to 2^53", where)
            got.append((tuple(key), float(v) if is_value else int(v)))
    return bid, at, out


class CounterStore:
    """The counters pushed to this replica, durable in ``directory`` (``--state-dir/counters``)."""

    def __init__(self, directory: str | Path, window: float = 3600.0, max_series: int = MAX_SERIES, max_ids: int = MAX_IDS):
        self.dir = Path(directory)
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.window, self.max_series, self.max_ids = window, max_series, max_ids
        self.totals: dict[str, Tally[tuple[str, ...]]] = {name: Tally() for name in FAMILIES}
        self.series = 0
        self.ids: dict[str, float] = {}  # batch id -> created (seconds), oldest first
        self.generation, self.offset, self.snap_stat = -1, 0, (0, 0)
        with self._locked():
            self.instance_id = self._identity()
            self._catch_up()
            self._compact()  # a start begins with a short journal

    # ------------------------------------------------------------------ files
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.dir / "lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _identity(self) -> str:
        path = self.dir / "instance-id"
        try:
            text = path.read_text().strip()
            if _ID.match(text):
                return text
        except FileNotFoundError:
            pass
        text = "counters-" + uuid.uuid4().hex[:12]
        _write(path, text + "\n")
        return text

    def _journal(self, generation: int) -> Path:
        return self.dir / f"journal-{generation}.jsonl"

    def _catch_up(self) -> None:
        """Read what other processes (or an earlier run) wrote: the snapshot when its generation
        moved on, then the journal's new lines. Called under the lock."""
        snap = self.dir / "snapshot.json"
        try:
            st = snap.stat()
            stat = (st.st_ino, st.st_mtime_ns)
        except FileNotFoundError:
            stat = (0, 0)
        d, generation = None, self.generation if stat == self.snap_stat else 0
        if stat != self.snap_stat and stat != (0, 0):
            d = json.loads(snap.read_text())
            generation = int(d["generation"])
        self.snap_stat = stat
        if generation != self.generation:
            self.totals = {name: Tally() for name in FAMILIES}
            self.ids, self.series, self.offset = {}, 0, 0
            if d is not None:
                for name, rows in d["totals"].items():
                    for key, v in rows:
                        self.totals[name][tuple(key)] = v
                self.series = sum(len(t) for t in self.totals.values())
                self.ids = {k: float(t) for k, t in d["ids"]}
            self.generation = generation
        path = self._journal(self.generation)
        try:
            with open(path, "rb") as f:
                f.seek(self.offset)
                for line in f:
                    if not line.endswith(b"\n"):
                        break  # a write cut short by a crash: never acknowledged
                    self.offset += len(line)
                    entry = orjson.loads(line)
                    self._apply(entry["id"], entry["t"], {n: [(tuple(k), v) for k, v in rows] for n, rows in entry["f"].items()})
        except FileNotFoundError:
            pass

    def _apply(self, bid: str, at: float, rows: dict[str, list[tuple[tuple[str, ...], float]]]) -> None:
        self.ids[bid] = at
        for name, lst in rows.items():
            t = self.totals[name]
            for key, v in lst:
                if key not in t:
                    self.series += 1
                t[key] += v

    def _compact(self) -> None:
        """Write the totals and the ids still inside the window as the next generation's snapshot,
        then start its journal. Under the lock."""
        now = time.time()
        ids = [[k, t] for k, t in self.ids.items() if t >= now - self.window]
        snap = {"generation": self.generation + 1, "totals": {n: [[list(k), v] for k, v in t.items()] for n, t in self.totals.items() if t},
                "ids": ids}
        _write(self.dir / "snapshot.json", json.dumps(snap))
        st = (self.dir / "snapshot.json").stat()
        self.snap_stat = (st.st_ino, st.st_mtime_ns)
        old = self._journal(self.generation)
        self.generation, self.offset, self.ids = self.generation + 1, 0, dict(ids)  # type: ignore[arg-type]
        with contextlib.suppress(FileNotFoundError):
            old.unlink()

    # ------------------------------------------------------------------ batches
    def accept(self, body: bytes, now: float | None = None) -> bool:
        """Add a verified batch's body; True when added, False for a duplicate. BatchError when refused."""
        now = time.time() if now is None else now
        bid, at, rows = parse(body, now, self.window)
        with self._locked():
            self._catch_up()
            if bid in self.ids:
                return False
            self._forget(now)
            if len(self.ids) >= self.max_ids:
                raise BatchError(503, "busy", f"{len(self.ids)} batch ids are remembered within the {self.window:.0f} s window (the bound): "
                                 "retry later, or add replicas", "busy")
            new = len({(n, k) for n, lst in rows.items() for k, _ in lst if k not in self.totals[n]})
            if self.series + new > self.max_series:
                raise BatchError(422, "too_many_series", f"batch {bid} would add {new} label sets to the {self.series} this replica "
                                 f"keeps (bound {self.max_series}): its labels are not the bundle's", "too_many_series", "families")
            line = orjson.dumps({"id": bid, "t": at, "f": {n: [[list(k), v] for k, v in lst] for n, lst in rows.items() if lst}}) + b"\n"
            with open(self._journal(self.generation), "ab") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())  # durable before the 200
            self.offset += len(line)
            self._apply(bid, at, rows)
            if self.offset > COMPACT_BYTES:
                self._compact()
        return True

    def _forget(self, now: float) -> None:
        """Drop the ids older than the window (a batch that old is refused as expired anyway)."""
        horizon = now - self.window
        while self.ids:
            bid, at = next(iter(self.ids.items()))
            if at >= horizon:
                break
            del self.ids[bid]

    def refresh(self) -> None:
        """Catch up with the other processes' batches (before a scrape)."""
        with self._locked():
            self._catch_up()

    def measure_state(self) -> dict[str, Any]:
        """The measurement counters in Measurement.state()'s shape (for /v1/stats), caught up with the other processes."""
        self.refresh()
        return {field: [[list(k), v] for k, v in self.totals[name].items()] for name, field in MEASURE.items()}


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class CountersEndpoint:
    """``POST /v1/counters``: 200 ``{"id", "duplicate"}`` once the batch is durable; 401 unsigned or
    forged; 4xx for a batch refused (the worker drops it and counts it), 503 when it should retry."""

    def __init__(self, store: CounterStore | None, secret: str | None, metrics: Any):
        self.store, self.secret, self.metrics = store, secret, metrics

    def _count(self, result: str) -> None:
        self.metrics.batches.inc(result)  # strata_counter_batches_total{result}

    async def handle(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        if self.store is None or not self.secret:
            raise ApiError(404, "counters_disabled", "aggregated counting is off: give the replicas --counters-secret "
                           "(STRATA_COUNTERS_SECRET) and a --state-dir")
        try:
            cl = request.headers.get("content-length")
            if cl is not None and (not cl.isdigit() or int(cl) > MAX_BODY):
                raise BatchError(413, "too_large", f"a batch is at most {MAX_BODY} bytes", "too_large")
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY:
                    raise BatchError(413, "too_large", f"a batch is at most {MAX_BODY} bytes", "too_large")
            given = request.headers.get(SIGNATURE, "")
            if not signed(self.secret, bytes(body), given):
                raise BatchError(401, "unauthorized", "POST /v1/counters needs 'X-Strata-Signature: v1=<HMAC-SHA256 of the body "
                                 "with STRATA_COUNTERS_SECRET>' (the fleet's shared secret)", "unauthorized")
            added = self.store.accept(bytes(body))
        except BatchError as e:
            self._count(e.result)
            raise
        self._count("ok" if added else "duplicate")
        return JSONResponse({"accepted": True, "duplicate": not added}, headers={"cache-control": "no-store"})


# ---------------------------------------------------------------------------------- /metrics
#: Gauges a replica exports under its pushed counters' identity too: what the offline tools read per instance.
_GAUGES = ("strata_bundle_info", "strata_experiment_variant_weight")


def identified(families: list[Any], instance_id: str, store: CounterStore | None) -> list[Any]:
    """The families of one process with ``instance_id`` on every sample, plus, in aggregated mode,
    the pushed counters' samples under the store's own ``instance_id`` (same families)."""
    pushed: dict[str, list[Any]] = {}
    if store is not None:
        store.refresh()
        for name, t in store.totals.items():
            labels = FAMILIES[name][0]
            pushed[name] = [(dict(zip(labels, k), instance_id=store.instance_id), v) for k, v in sorted(t.items())]
    seen = set()
    for f in families:
        own = [s._replace(labels={**s.labels, "instance_id": instance_id}) for s in f.samples]
        if store is not None:
            total = f.name + "_total" if f.type == "counter" else f.name
            seen.add(total)
            extra = pushed.get(total, [])
            if f.name in _GAUGES:
                extra = [({**s.labels, "instance_id": store.instance_id}, s.value) for s in f.samples]
            own += [own_sample(total, labels, v) for labels, v in extra]
        f.samples = own
    if store is not None:  # families this process has no row of yet (the pushers' own counters)
        from prometheus_client.core import CounterMetricFamily

        for name, rows in pushed.items():
            if rows and name not in seen:
                f = CounterMetricFamily(name.removesuffix("_total"), "Counted by the edge workers' counter pushes (counter_batches.js)")
                f.samples = [own_sample(name, labels, v) for labels, v in rows]
                families.append(f)
    return families


def own_sample(name: str, labels: dict[str, str], value: float) -> Any:
    from prometheus_client.samples import Sample

    return Sample(name, labels, value, None, None)
