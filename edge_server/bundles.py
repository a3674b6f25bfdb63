"""Bundle sources: a file, an HTTP(S) origin polled with ETag, or (development) a rule-set file
compiled on change with a throw-away key.

Every new bundle is verified and prepared in a worker thread, then swapped in atomically. A bundle
that fails any step is logged and counted, and the last good one keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from runtime.engine import Runtime
from runtime.errors import BundleError
from runtime.prepare import Prepared

from .config import Config, is_url

log = logging.getLogger("strata.bundles")


@dataclass
class SourceState:
    loaded_at: float = 0.0
    last_error: str | None = None
    last_error_at: float = 0.0
    successes: int = 0
    failures: int = 0


class BundleManager:
    #: The same source failure again (a missing file, an origin that stays down) is logged once per
    #: this many seconds, with how often it recurred; every attempt is still counted in /metrics.
    #: A bundle or rule set that fails to load is logged every time: each is a new attempt.
    REPEAT_WARNING_S = 300.0

    def __init__(self, config: Config, metrics: Any = None):
        self.config = config
        self.metrics = metrics
        self.state = SourceState()
        self._stamp: Any = None  # file stat or ETag of the last *attempted* source version
        self._etag: str | None = None
        self._client: httpx.AsyncClient | None = None
        self._warned: tuple[str, float] | None = None  # last failure logged, and when
        self._repeats = 0  # the same failure since, not logged
        if config.ruleset:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

            from compiler.keys import throwaway_key

            self._dev_key = Ed25519PrivateKey.from_private_bytes(config.dev_key) if config.dev_key else throwaway_key()
            self.runtime = Runtime([self._dev_key.public_key()], clock_skew=config.clock_skew)
        else:
            self.runtime = Runtime(config.public_keys, clock_skew=config.clock_skew)

    @property
    def current(self) -> Prepared | None:
        return self.runtime.current

    # ------------------------------------------------------------------ one check
    async def check(self) -> bool:
        """Look at the source once; load what changed. True when a new bundle was installed."""
        try:
            data = await self._fetch()
        except _SourceError as e:
            self._failed(str(e), source=True)
            return False
        if data is None:
            return False
        try:
            prepared = await asyncio.to_thread(self._prepare, data)
            self.runtime.install(prepared)
        except (BundleError, _SourceError) as e:
            self._failed(f"{type(e).__name__}: {e}")
            return False
        self.state.loaded_at = time.time()
        self.state.successes += 1
        self._warned, self._repeats = None, 0
        if self.metrics:
            self.metrics.reloads.inc("success")
        log.info("bundle loaded: %s v%s (%d bytes)", prepared.name, prepared.version, prepared.size)
        return True

    def _failed(self, message: str, source: bool = False) -> None:
        self.state.last_error = message
        self.state.last_error_at = time.time()
        self.state.failures += 1
        if self.metrics:
            self.metrics.reloads.inc("failure")
        now = self.state.last_error_at
        if source and self._warned is not None and self._warned[0] == message and now - self._warned[1] < self.REPEAT_WARNING_S:
            self._repeats += 1
            return
        cur = self.runtime.current
        keep = f"; still serving {cur.name} v{cur.version}" if cur else "; no bundle loaded yet"
        again = ""
        if self._repeats and self._warned is not None:
            same = self._warned[0] == message
            again = f" ({'the same' if same else 'the previous'} failure {self._repeats} more times since the last report)"
        log.warning("bundle not loaded: %s%s%s", message, keep, again)
        self._warned, self._repeats = (message, now), 0

    def _prepare(self, data: bytes) -> Prepared:
        if self.config.ruleset:
            return self._compile_dev(data)
        return self.runtime.prepare(data)

    def _dev_version(self) -> int:
        """The version of a development compile: the rule file's modification time in milliseconds,
        so every worker of ``--workers N`` compiling the same file serves the same version; above
        the current version when the clock or a restored file says otherwise (versions only grow)."""
        mtime_ms = self._stamp[0] // 1_000_000 if self._stamp else int(time.time() * 1000)
        cur = self.runtime.current
        return max(mtime_ms, cur.version + 1) if cur is not None else mtime_ms

    def _compile_dev(self, source_text: bytes) -> Prepared:
        from compiler.errors import CompileError
        from compiler.pipeline import Options, run

        try:
            ctx = run(self.config.ruleset or "", Options(key=self._dev_key, version=self._dev_version()), text=source_text.decode("utf-8", "replace"))
        except CompileError as e:
            raise _SourceError("rule set does not compile:\n" + "\n".join(d.display() for d in e.diagnostics)) from None
        for w in ctx.warnings:
            log.warning("%s", w)
        assert ctx.bundle is not None
        return self.runtime.prepare(ctx.bundle)

    # ------------------------------------------------------------------ sources
    async def _fetch(self) -> bytes | None:
        src = self.config.ruleset or self.config.bundle or ""
        if is_url(src):
            return await self._fetch_http(src)
        return await asyncio.to_thread(self._fetch_file, src)

    def _fetch_file(self, path: str) -> bytes | None:
        try:
            st = Path(path).stat()
        except OSError as e:
            raise _SourceError(f"{path}: {e.strerror}") from None
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self._stamp:
            return None
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise _SourceError(f"{path}: {e.strerror}") from None
        self._stamp = stamp
        return data

    async def _fetch_http(self, url: str) -> bytes | None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.config.origin_timeout, follow_redirects=True)
        headers = {"If-None-Match": self._etag} if self._etag else {}
        try:
            r = await self._client.get(url, headers=headers)
        except httpx.HTTPError as e:
            raise _SourceError(f"{url}: {type(e).__name__}: {e}") from None
        if r.status_code == 304:
            return None
        if r.status_code != 200:
            raise _SourceError(f"{url}: HTTP {r.status_code}")
        etag = r.headers.get("etag")
        if etag and etag == self._etag:
            return None
        self._etag = etag
        return r.content

    # ------------------------------------------------------------------ polling
    def next_delay(self) -> float:
        j = self.config.poll_jitter
        return max(0.05, self.config.poll_interval * (1 + random.uniform(-j, j)))

    async def run(self) -> None:
        """Poll forever (cancelled on shutdown)."""
        while True:
            await asyncio.sleep(self.next_delay())
            await self.check()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


class _SourceError(Exception):
    pass
