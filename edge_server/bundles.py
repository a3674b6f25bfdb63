"""Bundle sources: a file, an HTTP(S) origin polled with ETag, or (development) a rule-set file
compiled on change with a throw-away key.

Every new bundle is verified and prepared in a worker thread, then swapped in atomically. A bundle
that fails any step is logged and counted, and the last good one keeps serving: any exception
while fetching, verifying or preparing is a refusal, and the polling task survives anything (an
unexpected exception is logged with its traceback, counted, and the next poll happens as usual).

Rollback protection across restarts: with a state directory, the rule-set name and the highest
version loaded are recorded there in the file of this bundle source (``state.py``) and read at
start, so a restarted server refuses an older bundle or another rule set as a running one does,
and servers of other sources on the same host are not concerned. A refusal the state file caused
names the file and the flag that starts afresh.

Downloads are bounded: the body is streamed and refused as soon as it passes
``MAX_ENVELOPE_BYTES`` on the wire or after decoding ``Content-Encoding`` (gzip or deflate,
decoded here with a bounded output), so a compression bomb costs at most that much memory.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from runtime.decide import Prepared
from runtime.engine import Runtime
from runtime.errors import refusal
from runtime.format import MAX_ENVELOPE_BYTES

from . import state as state_file
from .config import Config, is_url

log = logging.getLogger("strata.bundles")


@dataclass
class SourceState:
    loaded_at: float = 0.0
    last_error: str | None = None
    last_error_at: float = 0.0
    successes: int = 0
    failures: int = 0
    unexpected: int = 0  # exceptions the source loop did not expect (a defect): logged with a traceback


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
        self._seen: tuple[str, str] | None = None  # validator of the last body looked at (_validator)
        self._client: httpx.AsyncClient | None = None
        self._warned: tuple[str, float] | None = None  # last failure logged, and when
        self._repeats = 0  # the same failure since, not logged
        self._task: asyncio.Task[None] | None = None
        self._recorder: asyncio.Task[None] | None = None
        self._to_record: tuple[str, int] | None = None
        if config.ruleset:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

            from compiler.keys import throwaway_key

            self._dev_key = Ed25519PrivateKey.from_private_bytes(config.dev_key) if config.dev_key else throwaway_key()
            # development compiles its own bundles: no name pinning (renaming the rule set is an edit) and no state file
            self.runtime = Runtime([self._dev_key.public_key()], clock_skew=config.clock_skew, pin=False)
            self.state_path: Path | None = None
            self.recorded: state_file.BundleState | None = None
        else:
            self.state_path = state_file.path_for(config)
            name, floor = config.bundle_name, None
            self.recorded = recorded = state_file.at_start(config)
            if recorded is not None:
                name, floor = recorded.name, recorded.version
                log.info("rollback state: serving %s, version %d or later (%s)", name, floor, self.state_path)
            self.runtime = Runtime(config.public_keys, clock_skew=config.clock_skew, name=name, floor=floor)

    @property
    def current(self) -> Prepared | None:
        return self.runtime.current

    # ------------------------------------------------------------------ one check
    async def check(self) -> bool:
        """Look at the source once; load what changed. True when a new bundle was installed.
        Never raises (but for cancellation): whatever goes wrong is a counted, logged failure."""
        try:
            return await self._check()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - a defect must not stop bundle loading: logged with its traceback, counted
            self.state.unexpected += 1
            log.error("bundle source check failed unexpectedly; polling continues", exc_info=e)
            self._failed(f"unexpected {type(e).__name__}: {e}", source=True, logged=True)
            return False

    async def _check(self) -> bool:
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
        except Exception as e:  # noqa: BLE001 - BundleError, a compile error, or anything else: a refused bundle
            self._failed(f"{refusal(e)}{self._pinned_by_state(e)}")
            return False
        self.state.loaded_at = time.time()
        self.state.successes += 1
        self._warned, self._repeats = None, 0
        if self.metrics:
            self.metrics.reloads.inc("success")
        log.info("bundle loaded: %s v%s (%d bytes)", prepared.name, prepared.version, prepared.size)
        if self.state_path is not None:
            self._to_record = (prepared.name, prepared.version)
            if self._recorder is None or self._recorder.done():
                self._recorder = asyncio.create_task(self._record_latest())
        return True

    def _pinned_by_state(self, e: Exception) -> str:
        """For a refusal the state file decided (its rule set or its floor, not yet raised by a bundle
        of this process): the file, and the flag that starts afresh."""
        from runtime.errors import RollbackRefused, WrongName

        rec = self.recorded
        if rec is None or self.state_path is None or not isinstance(e, (WrongName, RollbackRefused)):
            return ""
        cur = self.runtime.current
        if isinstance(e, WrongName) and self.config.bundle_name is None and (cur is None or cur.name == rec.name):
            why = f"rule set {rec.name!r}"
        elif isinstance(e, RollbackRefused) and (cur is None or cur.version <= rec.version):
            why = f"version {rec.version}"
        else:
            return ""
        return (f" [{why} recorded in {self.state_path} by an earlier server of this source; if this source now serves another rule "
                f"set or was reset on purpose, give {state_file.FLAG} with a new path (or delete that file)]")

    async def _record_latest(self) -> None:
        """Keep the rule set and the highest version in the state file (rollback after a restart),
        in a thread and without holding up polling (the write ends with an fsync); versions loaded
        meanwhile are coalesced into the next write."""
        while self._to_record is not None:
            (name, version), self._to_record = self._to_record, None
            await asyncio.to_thread(self._record, name, version)

    def _record(self, name: str, version: int) -> None:
        assert self.state_path is not None
        try:
            state_file.record(self.state_path, name, version, self.config.bundle)
        except OSError as e:
            log.warning("cannot record the rollback state in %s (%s): a restart would accept versions older than v%d",
                        self.state_path, e.strerror, version)

    def _failed(self, message: str, source: bool = False, logged: bool = False) -> None:
        self.state.last_error = message
        self.state.last_error_at = time.time()
        self.state.failures += 1
        if self.metrics:
            self.metrics.reloads.inc("failure")
        now = self.state.last_error_at
        if source and self._warned is not None and self._warned[0] == message and now - self._warned[1] < self.REPEAT_WARNING_S:
            self._repeats += 1
            return
        if logged:  # already logged with its traceback
            self._warned, self._repeats = (message, now), 0
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
        # Only encodings decoded here, with a bounded output; anything else is refused below.
        headers = {"Accept-Encoding": "gzip, deflate"}
        if self._seen:
            headers["If-None-Match" if self._seen[0] == "etag" else "If-Modified-Since"] = self._seen[1]
        try:
            async with self._client.stream("GET", url, headers=headers) as r:
                if r.status_code == 304:
                    return None
                if r.status_code != 200:
                    raise _SourceError(f"{url}: HTTP {r.status_code}")
                validator = _validator(r.headers)
                if validator is not None and validator == self._seen:
                    return None
                # Remember the validator before reading: a refused body is not downloaded again until it changes.
                self._seen = validator
                return await _read_bounded(r, url, MAX_ENVELOPE_BYTES)
        except httpx.HTTPError as e:
            self._seen = None  # the download broke off: the body was not judged, look at it again
            raise _SourceError(f"{url}: {type(e).__name__}: {e}") from None

    # ------------------------------------------------------------------ polling
    def next_delay(self) -> float:
        j = self.config.poll_jitter
        return max(0.05, self.config.poll_interval * (1 + random.uniform(-j, j)))

    async def run(self) -> None:
        """Poll forever (cancelled on shutdown). ``check`` never raises; should anything else go
        wrong, it is logged and counted and polling goes on."""
        while True:
            try:
                await asyncio.sleep(self.next_delay())
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - the polling loop must never die silently
                self.state.unexpected += 1
                log.error("bundle polling failed unexpectedly; polling continues", exc_info=e)

    def start(self) -> asyncio.Task[None]:
        """Start the polling task (``polling`` reports whether it is alive)."""
        self._task = asyncio.create_task(self.run(), name="strata-bundle-polling")
        return self._task

    @property
    def polling(self) -> bool | None:
        """None before ``start``; True while the polling task runs; False if it ended (which only
        cancellation at shutdown should do): /readyz then reports the server not ready."""
        if self._task is None:
            return None
        return not self._task.done()

    async def aclose(self) -> None:
        if self._recorder is not None:
            await self._recorder  # the last version loaded is on disk before the process ends
        if self._client is not None:
            await self._client.aclose()


class _SourceError(Exception):
    pass


def _validator(headers: httpx.Headers) -> tuple[str, str] | None:
    """A response's validator: ("etag", ETag), else ("last-modified", Last-Modified) when it is at
    least one second older than the response's Date (RFC 9110 8.8.2.2: only then can a later
    change not carry the same date), else None. The same rule as the worker's validatorOf."""
    from email.utils import parsedate_to_datetime

    etag = headers.get("etag")
    if etag:
        return ("etag", etag)
    lm, date = headers.get("last-modified"), headers.get("date")
    if lm and date:
        try:
            if (parsedate_to_datetime(date) - parsedate_to_datetime(lm)).total_seconds() >= 1:
                return ("last-modified", lm)
        except (TypeError, ValueError):
            return None
    return None


def _encoding(r: httpx.Response, url: str) -> str:
    enc = str(r.headers.get("content-encoding", "")).strip().lower()
    if enc in ("", "identity"):
        return "identity"
    if enc in ("gzip", "x-gzip", "deflate"):
        return enc
    raise _SourceError(f"{url}: Content-Encoding {enc[:40]!r} is not supported (gzip, deflate or none); configure the origin to send one of them")


_STEP = 1024 * 1024


def _zlib_header(b: bytes) -> bool:
    """RFC 1950: deflate method, and the two header bytes a multiple of 31 (else raw deflate)."""
    return b[0] & 0x0F == 8 and (b[0] << 8 | b[1]) % 31 == 0


async def _read_bounded(r: httpx.Response, url: str, cap: int) -> bytes:
    """The body of ``r``, refused as soon as more than ``cap`` bytes arrive on the wire or come out
    of decoding its Content-Encoding (decoded here in bounded steps, never more than one byte
    beyond the cap): memory never holds more than ``cap`` of it, plus one network chunk and one step."""
    too_large = f"{url}: bundle larger than {cap} bytes; refused while downloading"
    declared = r.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > cap:
        raise _SourceError(f"{too_large} (Content-Length: {int(declared)})")
    enc = _encoding(r, url)
    dec: Any = zlib.decompressobj(16 + zlib.MAX_WBITS) if enc != "identity" and enc != "deflate" else None
    pending = b""  # deflate: held until its first two bytes tell a zlib stream from a raw one
    wire = 0
    body = bytearray()
    async for chunk in r.aiter_raw():
        wire += len(chunk)
        if wire > cap:
            raise _SourceError(f"{too_large} (on the wire)")
        if enc == "identity":
            body += chunk
            continue
        if dec is None:
            pending += chunk
            if len(pending) < 2:
                continue
            dec = zlib.decompressobj(zlib.MAX_WBITS if _zlib_header(pending) else -zlib.MAX_WBITS)
            chunk, pending = pending, b""
        while chunk:  # in steps of at most 1 MiB of output, never more than one byte past the cap
            try:
                body += dec.decompress(chunk, min(_STEP, cap - len(body) + 1))
            except zlib.error as e:
                raise _SourceError(f"{url}: body does not decode as {enc} ({e})") from None
            if len(body) > cap:
                raise _SourceError(f"{too_large} (after Content-Encoding {enc})")
            chunk = dec.unconsumed_tail
    if enc != "identity" and (dec is None or not dec.eof):
        raise _SourceError(f"{url}: {enc} body is truncated")
    return bytes(body)
