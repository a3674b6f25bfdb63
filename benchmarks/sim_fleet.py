"""A fleet for the one-to-one simulations: real ``strata serve`` replicas in production mode
(``--bundle FILE --pub KEY``), a signing key, and the operator's loop through the real CLI —
``strata compile`` writes the signed bundle where the replicas poll for it, ``strata train`` and
``strata rebalance`` run as subprocesses, ``/v1/stats`` is scraped per replica.

    with Fleet(tmp, ruleset_text, servers=2) as fleet:
        ...drive visitors at fleet.urls...
        snaps = fleet.snapshots()
        fleet.strata("train", fleet.ruleset, *snaps)
        fleet.publish()          # compile the (rewritten) rule set, wait for every replica to load it
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edge_server.harness.server import RunningServer  # noqa: E402

#: The simulation mints and reads its visitors' cookies, so it knows the cookie key.
COOKIE_KEY = b"\x07" * 32
TOKEN = "sim-token"
T = TypeVar("T")
R = TypeVar("R")


def cookie_keys_env() -> str:
    return "sim:" + base64.b64encode(COOKIE_KEY).decode()


class CommandFailed(RuntimeError):
    pass


class Fleet:
    """``servers`` replicas of one rule set, republished through ``strata compile``."""

    def __init__(self, workdir: Path, ruleset_text: str, *, servers: int = 2, name: str = "sim.yaml",
                 extra_files: dict[str, str] | None = None, poll_interval: float = 0.2) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ruleset = self.dir / name
        self.ruleset.write_text(ruleset_text)
        for fname, text in (extra_files or {}).items():
            (self.dir / fname).write_text(text)
        self.bundle = self.dir / "site.bundle"
        self.snap_dir = self.dir / "stats"
        self.snap_dir.mkdir(exist_ok=True)
        self.version = 0
        self.log: list[str] = []  # the commands run, for the report
        self.strata("keygen", "-o", str(self.dir / "keys" / "site"))
        self.publish(wait=False)
        env = {"STRATA_COOKIE_KEYS": cookie_keys_env(), "STRATA_STATS_TOKEN": TOKEN}
        self.servers: list[RunningServer] = []
        try:
            for _ in range(servers):
                self.servers.append(RunningServer(["--bundle", str(self.bundle), "--pub", str(self.dir / "keys" / "site.pub"),
                                                   "--insecure-cookie", "--poll-interval", str(poll_interval)], env=env))
        except BaseException:
            self.stop()
            raise
        self.urls = [s.url for s in self.servers]

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        for s in getattr(self, "servers", []):
            s.stop()

    # ------------------------------------------------------------------ the operator's commands
    def strata(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the real CLI (``python -m runtime.cli``, what ``strata`` is) in the fleet's directory."""
        cmd = [sys.executable, "-m", "runtime.cli", *args]
        self.log.append("strata " + " ".join(str(a).replace(str(self.dir) + "/", "") for a in args))
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
        if check and p.returncode != 0:
            raise CommandFailed(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
        return p

    def publish(self, wait: bool = True) -> int:
        """Compile the rule set as it now is into the polled bundle file (a new, higher version) and
        wait until every replica serves it."""
        self.version += 1
        self.strata("compile", str(self.ruleset), "-k", str(self.dir / "keys" / "site.key"), "-o", str(self.bundle),
                    "--version", str(self.version))
        if wait:
            self.wait_version(self.version)
        return self.version

    def wait_version(self, version: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        pending = list(self.urls)
        while pending:
            pending = [u for u in pending if _version(u) != version]
            if pending and time.monotonic() > deadline:
                raise RuntimeError(f"replicas {pending} did not load version {version} in {timeout}s")
            if pending:
                time.sleep(0.1)

    def snapshots(self) -> list[str]:
        """One ``/v1/stats`` snapshot per replica, saved under a new name (several rounds make a timeline)."""
        paths = []
        for i, u in enumerate(self.urls):
            p = self.snap_dir / f"node{i}-{len(list(self.snap_dir.glob(f'node{i}-*.json'))):03d}.json"
            p.write_text(json.dumps(stats(u)))
            paths.append(str(p))
        return paths

    def latest_snapshots(self) -> list[str]:
        return [str(sorted(self.snap_dir.glob(f"node{i}-*.json"))[-1]) for i in range(len(self.urls))]

    def prepared(self) -> Any:
        """The bundle now published, verified and prepared in this process (for scoring fresh
        visitors with exactly what the replicas evaluate)."""
        from runtime import Runtime

        rt = Runtime([str(self.dir / "keys" / "site.pub")])
        return rt.load(self.bundle.read_bytes())


def stats(url: str) -> dict[str, Any]:
    r = httpx.get(url + "/v1/stats", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    r.raise_for_status()
    out: dict[str, Any] = r.json()
    return out


def _version(url: str) -> int | None:
    try:
        r = httpx.get(url + "/readyz", timeout=2)
    except httpx.HTTPError:
        return None
    b = r.json().get("bundle") or {}
    v = b.get("version")
    return int(v) if v is not None else None


def drive(urls: Sequence[str], items: Sequence[T], play: Callable[[list[httpx.Client], T], R], workers: int = 4) -> list[R]:
    """``play(clients, item)`` for every item, from ``workers`` threads (each with its own client per
    replica); results in the items' order. The outcome of an item must not depend on the order the
    items run in (seed its randomness from the item)."""
    out: list[R | None] = [None] * len(items)

    def run(idx: range) -> None:
        clients = [httpx.Client(base_url=u, timeout=30) for u in urls]
        try:
            for i in idx:
                out[i] = play(clients, items[i])
        finally:
            for c in clients:
                c.close()

    workers = max(1, min(workers, len(items)))
    with ThreadPoolExecutor(workers) as ex:
        for f in [ex.submit(run, range(w, len(items), workers)) for w in range(workers)]:
            f.result()
    return out  # type: ignore[return-value]
