"""Bundle sources under a running server: a watched file, an HTTP origin with ETag, development
mode. Bad bundles are refused, counted in /metrics, and the last good one keeps serving."""

from __future__ import annotations

import base64
import http.server
import os
import threading

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.harness.fixtures import TRAILBLAZER
from compiler.pipeline import Options, run
from edge_server.harness.ports import wait_for
from edge_server.harness.server import RunningServer, metric

COOKIES = {"STRATA_COOKIE_KEYS": "k1:" + base64.b64encode(b"\x02" * 32).decode(), "STRATA_POLL_JITTER": "0"}


def with_headline(headline: str) -> str:
    """The demo rule set with its default hero headline replaced."""
    return TRAILBLAZER.read_text().replace("headline: Gear up for your next adventure", f"headline: {headline}")


def compile_version(key, version: int, headline: str = "Gear up for your next adventure") -> bytes:
    return run("trailblazer.yaml", Options(key=key, version=version), text=with_headline(headline)).bundle


def served(server: RunningServer) -> tuple[int, str]:
    r = httpx.post(server.url + "/v1/decide", json={"page": {"url": "/"}, "slots": ["hero"]}, headers={"Sec-GPC": "1"})
    return r.json()["bundle"]["version"], r.json()["slots"]["hero"]["content"]["headline"]


def reload_failures(server: RunningServer) -> float:
    return metric(server.url, 'strata_bundle_reloads_total{result="failure"}')


def test_sources_file_swaps_refuses_tampered_and_older(tmp_path, site_keys):
    key, pub = site_keys
    bundle = tmp_path / "site.bundle"
    bundle.write_bytes(compile_version(key, 1, "v1"))
    s = RunningServer(["--bundle", str(bundle), "--pub", str(pub), "--poll-interval", "0.1"], env=COOKIES)
    try:
        assert served(s) == (1, "v1")
        bundle.write_bytes(compile_version(key, 2, "v2"))
        wait_for(lambda: served(s) == (2, "v2"))
        tampered = bytearray(compile_version(key, 3, "v3"))
        tampered[len(tampered) // 2] ^= 0xFF
        bundle.write_bytes(bytes(tampered))
        wait_for(lambda: reload_failures(s) >= 1)
        assert served(s) == (2, "v2")
        bundle.write_bytes(compile_version(key, 1, "old"))  # validly signed, but a rollback
        wait_for(lambda: reload_failures(s) >= 2)
        assert served(s) == (2, "v2")
        assert httpx.get(s.url + "/readyz").json()["last_error"].startswith("RollbackRefused")
        bundle.write_bytes(compile_version(key, 4, "v4"))
        wait_for(lambda: served(s) == (4, "v4"))
    finally:
        s.stop()


class _OriginHandler(http.server.BaseHTTPRequestHandler):
    """A tiny object-store stand-in: serves one bundle with an ETag, answers 304 when it matches.
    State lives on a per-test subclass made by ``origin()``."""

    body = b""
    etag = '"0"'
    requests: dict[str, int] = {}
    down = False

    def do_GET(self) -> None:  # noqa: N802
        cls = type(self)
        if cls.down:
            self.send_response(503)
            self.end_headers()
            return
        if self.headers.get("If-None-Match") == cls.etag:
            cls.requests["304"] += 1
            self.send_response(304)
            self.end_headers()
            return
        cls.requests["200"] += 1
        self.send_response(200)
        self.send_header("ETag", cls.etag)
        self.send_header("Content-Length", str(len(cls.body)))
        self.end_headers()
        self.wfile.write(cls.body)

    def log_message(self, *args: object) -> None:
        pass


def origin() -> type[_OriginHandler]:
    """A fresh origin handler class, with its own state, for one test."""
    return type("Origin", (_OriginHandler,), {"requests": {"200": 0, "304": 0}, "down": False, "body": b"", "etag": '"0"'})


def test_sources_http_origin_with_etag_and_outage(site_keys):
    key, pub = site_keys
    _Origin = origin()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Origin)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    _Origin.body, _Origin.etag = compile_version(key, 1, "v1"), '"v1"'
    url = f"http://127.0.0.1:{httpd.server_address[1]}/site.bundle"
    s = RunningServer(["--bundle", url, "--pub", str(pub), "--poll-interval", "0.1"], env=COOKIES)
    try:
        assert served(s) == (1, "v1")
        wait_for(lambda: _Origin.requests["304"] >= 3)  # polling revalidates, does not re-download
        assert _Origin.requests["200"] == 1
        _Origin.body, _Origin.etag = compile_version(key, 2, "v2"), '"v2"'
        wait_for(lambda: served(s) == (2, "v2"))
        _Origin.down = True
        wait_for(lambda: reload_failures(s) >= 2)
        assert served(s) == (2, "v2") and httpx.get(s.url + "/readyz").status_code == 200
        _Origin.down = False
        _Origin.body, _Origin.etag = compile_version(key, 3, "v3"), '"v3"'
        wait_for(lambda: served(s) == (3, "v3"))
    finally:
        s.stop()
        httpd.shutdown()


def test_sources_readyz_503_until_a_bundle_arrives(tmp_path, site_keys):
    key, pub = site_keys
    bundle = tmp_path / "later.bundle"
    log = tmp_path / "serve.log"
    s = RunningServer(["--bundle", str(bundle), "--pub", str(pub), "--poll-interval", "0.1"], env=COOKIES, ready=False, log=log)
    try:
        r = httpx.get(s.url + "/readyz")
        assert r.status_code == 503 and r.json()["ready"] is False
        d = httpx.post(s.url + "/v1/decide", json={})
        assert d.status_code == 503 and d.json()["error"]["code"] == "not_ready"
        wait_for(lambda: reload_failures(s) >= 5)  # every poll is counted ...
        assert log.read_text().count("bundle not loaded") == 1  # ... the same failure is logged once
        bundle.write_bytes(compile_version(key, 1, "v1"))
        wait_for(lambda: httpx.get(s.url + "/readyz").status_code == 200)
    finally:
        s.stop()


def test_sources_repeated_failure_is_reported_again_with_its_count(tmp_path, site_keys, caplog):
    import asyncio
    import os

    from edge_server.bundles import BundleManager
    from edge_server.config import Config

    m = BundleManager(Config(bundle=str(tmp_path / "missing.bundle"), public_keys=[str(site_keys[1])]))

    async def checks(n: int) -> None:
        for _ in range(n):
            assert await m.check() is False

    with caplog.at_level("WARNING", logger="strata.bundles"):
        asyncio.run(checks(3))
        assert [r.getMessage().count("missing.bundle") for r in caplog.records] == [1]
        m.REPEAT_WARNING_S = 0.0  # the reporting interval has passed
        asyncio.run(checks(1))
    assert "the same failure 2 more times since the last report" in caplog.records[-1].getMessage()
    assert len(caplog.records) == 2 and m.state.failures == 4
    # a bundle that fails to load is reported every time it changes, even with the same error
    m.REPEAT_WARNING_S = 300.0
    caplog.clear()
    with caplog.at_level("WARNING", logger="strata.bundles"):
        for i in range(2):
            (tmp_path / "missing.bundle").write_bytes(b"not a bundle")
            os.utime(tmp_path / "missing.bundle", ns=(i * 10**9, i * 10**9))
            asyncio.run(checks(1))
    assert len(caplog.records) == 2 and all("not a Strata bundle" in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]


def test_sources_dev_mode_recompiles_and_keeps_last_good_on_broken_edit(tmp_path):
    rs = tmp_path / "site.yaml"
    rs.write_text(TRAILBLAZER.read_text())
    log = tmp_path / "server.log"
    s = RunningServer([str(rs), "--poll-interval", "0.1"], env=COOKIES, log=log)
    try:
        _, h = served(s)
        assert h == "Gear up for your next adventure"
        rs.write_text(with_headline("Edited"))
        wait_for(lambda: served(s)[1] == "Edited")
        rs.write_text(TRAILBLAZER.read_text().replace("session.page_views >= 3", "session.pageviews >= 3"))
        wait_for(lambda: "unknown-signal: session.pageviews is not declared" in log.read_text())
        assert served(s)[1] == "Edited"
    finally:
        s.stop()


def test_sources_dev_mode_workers_compile_the_same_version(tmp_path):
    """Two development-mode managers (as two workers of --workers 2, configured through the
    parent's environment) compiling one file serve the same bundle: the file's modification time as
    version, signed with the one throw-away key the parent made; an edit raises the version, and so
    does a file restored with an older modification time (versions only grow)."""
    import asyncio
    import os

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from edge_server import asgi
    from edge_server.bundles import BundleManager
    from edge_server.config import Config

    rs = tmp_path / "site.yaml"
    rs.write_text(TRAILBLAZER.read_text())
    os.utime(rs, ns=(1_800_000_000_123_456_789, 1_800_000_000_123_456_789))
    shared = asgi.dump(Config(ruleset=str(rs), dev_key=Ed25519PrivateKey.generate().private_bytes_raw()))

    async def served(env: str | None) -> list[tuple[int, str]]:
        out = []
        for _ in range(2):
            m = BundleManager(asgi.load(env) if env else Config(ruleset=str(rs)))
            assert await m.check()
            out.append((m.current.version, m.current.key_id))
        return out

    (v1, k1), (v2, k2) = asyncio.run(served(shared))
    assert v1 == v2 == 1_800_000_000_123 and k1 == k2
    (_, k1), (_, k2) = asyncio.run(served(None))
    assert k1 != k2  # without the parent's key each manager makes its own

    async def edits() -> list[int]:
        m = BundleManager(Config(ruleset=str(rs)))
        await m.check()
        seen = [m.current.version]
        rs.write_text(with_headline("Edited"))
        os.utime(rs, ns=(1_800_000_060_000_000_000, 1_800_000_060_000_000_000))
        assert await m.check()
        seen.append(m.current.version)
        rs.write_text(TRAILBLAZER.read_text())
        os.utime(rs, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))  # restored with an old time
        assert await m.check()
        seen.append(m.current.version)
        return seen

    assert asyncio.run(edits()) == [1_800_000_000_123, 1_800_000_060_000, 1_800_000_060_001]


# ------------------------------------------------------------------ issue #12 class 3: loading never wedges
def bad_regex_bundle(key, version: int) -> bytes:
    """A validly signed bundle whose preparation fails (an invalid regular expression literal):
    refused as prepare_failed, or invalid_ir once validation checks patterns."""
    import lzma

    import msgpack

    from runtime.format import SIGNATURE_DOMAIN
    from runtime.keys import key_id

    good = compile_version(key, version, "bad")
    p = msgpack.unpackb(lzma.decompress(msgpack.unpackb(good)["payload"]), raw=False)
    sig = next(i for i, s in enumerate(p["signals"]) if s["name"] == "device.type")
    p["segments"][0]["when"] = [12, "matches", "string,string", [2, sig], [0, "(unclosed"]]
    raw = lzma.compress(msgpack.packb(p, use_bin_type=True), format=lzma.FORMAT_XZ)
    return msgpack.packb({"format": 1, "key_id": key_id(key.public_key()), "payload": raw, "signature": key.sign(SIGNATURE_DOMAIN + raw)},
                         use_bin_type=True)


def test_sources_bundle_failing_preparation_at_start_leaves_server_up_and_unready(tmp_path, site_keys):
    """Issue #12: a bundle that crashed preparation made the server exit 3 at start, and killed the
    polling task on a running server. Now: up, not ready, counted; a later good bundle loads."""
    key, pub = site_keys
    bundle = tmp_path / "site.bundle"
    bundle.write_bytes(bad_regex_bundle(key, 1))
    s = RunningServer(["--bundle", str(bundle), "--pub", str(pub), "--poll-interval", "0.1"], env=COOKIES, ready=False)
    try:
        assert httpx.get(s.url + "/healthz").status_code == 200
        r = httpx.get(s.url + "/readyz")
        assert r.status_code == 503 and r.json()["last_error"].split(" ")[0] in ("PrepareFailed", "InvalidIR")
        assert reload_failures(s) >= 1
        bundle.write_bytes(compile_version(key, 2, "v2"))
        wait_for(lambda: httpx.get(s.url + "/readyz").status_code == 200)
        assert served(s) == (2, "v2")
        bundle.write_bytes(bad_regex_bundle(key, 3))  # on a running server: refused, polling goes on
        wait_for(lambda: reload_failures(s) >= 2)
        bundle.write_bytes(compile_version(key, 4, "v4"))
        wait_for(lambda: served(s) == (4, "v4"))
    finally:
        s.stop()


def test_sources_unexpected_exceptions_are_counted_and_polling_goes_on(tmp_path, site_keys, caplog):
    """The polling task is supervised: an exception nothing expected (a defect anywhere in fetching
    or loading) is logged with its traceback, counted, and the next poll happens."""
    import asyncio

    from edge_server.bundles import BundleManager
    from edge_server.config import Config

    key, pub = site_keys
    path = tmp_path / "site.bundle"
    path.write_bytes(compile_version(key, 1, "v1"))
    m = BundleManager(Config(bundle=str(path), public_keys=[str(pub)], poll_interval=0.01, poll_jitter=0.0))
    calls = {"n": 0}
    real = m._fetch

    async def flaky_fetch():  # every other poll blows up in a way no code path expects
        calls["n"] += 1
        if calls["n"] % 2:
            raise {1: RuntimeError("defect"), 3: MemoryError(), 5: KeyError("x"), 7: RecursionError()}.get(calls["n"], ValueError("v"))
        return await real()

    m._fetch = flaky_fetch  # type: ignore[method-assign]

    async def scenario() -> None:
        assert await m.check() is False  # does not raise
        task = m.start()
        while calls["n"] < 9:
            await asyncio.sleep(0.01)
        assert m.polling is True and m.current is not None and m.current.version == 1
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert m.polling is False  # /readyz reports a dead polling task as not ready

    with caplog.at_level("ERROR", logger="strata.bundles"):
        asyncio.run(scenario())
    assert m.state.unexpected >= 4 and m.state.failures >= 4
    assert any(r.exc_info for r in caplog.records)


# ------------------------------------------------------------------ issue #12 class 4: rollback across names and restarts
def test_sources_restart_keeps_rollback_protection(tmp_path, site_keys):
    """Issue #12: load A v5, offer another rule set B (refused: one name per server), restart,
    offer A v3 (refused: the state file remembers v5), then A v6 loads."""
    import json

    key, pub = site_keys
    state = tmp_path / "state"
    bundle = tmp_path / "site.bundle"
    bundle.write_bytes(compile_version(key, 5, "v5"))
    args = ["--bundle", str(bundle), "--pub", str(pub), "--poll-interval", "0.1", "--state-dir", str(state)]
    other = run("other.yaml", Options(key=key, version=50), text=with_headline("other").replace("name: trailblazer", "name: other-site")).bundle
    assert b"other-site" not in compile_version(key, 1) and other
    from edge_server.state import source_id

    state_file = state / f"bundle-state-{source_id(str(bundle))}.json"  # the file of this source
    s = RunningServer(args, env=COOKIES)
    try:
        assert served(s) == (5, "v5")
        wait_for(lambda: state_file.exists())
        bundle.write_bytes(other)
        wait_for(lambda: reload_failures(s) >= 1)
        assert httpx.get(s.url + "/readyz").json()["last_error"].startswith("WrongName")
        assert served(s) == (5, "v5")
    finally:
        s.stop()
    assert json.loads(state_file.read_text()) == {"name": "trailblazer", "version": 5, "source": str(bundle.absolute())}
    bundle.write_bytes(compile_version(key, 3, "old"))
    s = RunningServer(args, env=COOKIES, ready=False)
    try:
        wait_for(lambda: reload_failures(s) >= 1)
        r = httpx.get(s.url + "/readyz")
        assert r.status_code == 503 and r.json()["last_error"].startswith("RollbackRefused")
        bundle.write_bytes(compile_version(key, 6, "v6"))
        wait_for(lambda: httpx.get(s.url + "/readyz").status_code == 200)
        assert served(s) == (6, "v6")
    finally:
        s.stop()
    assert json.loads(state_file.read_text())["version"] == 6


def test_sources_corrupt_state_file_stops_the_start_with_a_clear_error(tmp_path, site_keys):
    import subprocess
    import sys

    from compiler.harness.fixtures import ROOT
    from edge_server.bundles import BundleManager
    from edge_server.config import Config, ConfigError

    key, pub = site_keys
    bundle = tmp_path / "site.bundle"
    bundle.write_bytes(compile_version(key, 1))
    from edge_server.state import source_id

    state = tmp_path / "state"
    state.mkdir()
    state_file = state / f"bundle-state-{source_id(str(bundle))}.json"
    for corrupt in ("", "{", '{"name": "trailblazer"}', '{"name": "", "version": 3}', '{"name": "t", "version": "3"}', "[1]"):
        state_file.write_text(corrupt)
        with pytest.raises(ConfigError, match=r"bundle-state-[0-9a-f]{16}.json: the rollback state file is corrupt"):
            BundleManager(Config(bundle=str(bundle), public_keys=[str(pub)], state_dir=str(state)))
    state_file.write_text('{"name": "shop", "version": 1}')
    with pytest.raises(ConfigError, match=r"records rule set 'shop' from this source, but --bundle-name is 'trailblazer'.*give --state-file"):
        BundleManager(Config(bundle=str(bundle), public_keys=[str(pub)], state_dir=str(state), bundle_name="trailblazer"))
    state_file.write_text("{")
    r = subprocess.run([sys.executable, "-m", "compiler.cli", "serve", "--bundle", str(bundle), "--pub", str(pub), "--state-dir", str(state)],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "rollback state file is corrupt" in r.stderr and "Traceback" not in r.stderr


@pytest.fixture(scope="module")
def offered_bundles(site_keys) -> dict[tuple[str, int], bytes]:
    key, _ = site_keys
    text = with_headline("x")
    return {(name, v): run(f"{name}.yaml", Options(key=key, version=v), text=text.replace("name: trailblazer", f"name: {name}")).bundle
            for name in ("trailblazer", "other") for v in (1, 2, 3, 4)}


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(configured=st.sampled_from([None, "trailblazer", "other"]),
       steps=st.lists(st.one_of(st.tuples(st.sampled_from(["trailblazer", "other"]), st.integers(1, 4)), st.just("restart")), min_size=1, max_size=10))
def test_sources_rollback_model_over_names_versions_and_restarts(offered_bundles, tmp_path_factory, site_keys, configured, steps):
    """Any sequence of offers (two rule sets signed by one key, versions up and down) and restarts:
    the server accepts exactly what a model of 'one name, versions never go down, remembered across
    restarts' accepts."""
    import asyncio

    from edge_server.bundles import BundleManager
    from edge_server.config import Config

    _, pub = site_keys
    tmp = tmp_path_factory.mktemp("model")
    path = tmp / "site.bundle"
    cfg = Config(bundle=str(path), public_keys=[str(pub)], state_dir=str(tmp / "state"), bundle_name=configured)
    name, highest = configured, None

    async def scenario() -> None:
        nonlocal name, highest
        m = BundleManager(cfg)
        for i, step in enumerate(steps):
            if step == "restart":
                await m.aclose()
                m = BundleManager(cfg)
                continue
            offered_name, version = step
            expected = (name is None or name == offered_name) and (highest is None or version >= highest)
            path.write_bytes(offered_bundles[step])
            os.utime(path, ns=(i * 10**9, i * 10**9))  # a new file version at every step
            assert await m.check() is expected, (step, name, highest)
            if expected:
                name, highest = offered_name, max(version, highest or version)
            assert (m.current.name, m.current.version) == (name, highest) if m.current else True
        await m.aclose()

    asyncio.run(scenario())


# ------------------------------------------------------------------ issue #12 class 5: bounded downloads
CAP = 16 * 1024 * 1024
BOMB = 64 * 1024 * 1024  # what the hostile bodies decode to: four times the cap


def _compressed(encoding: str) -> bytes:
    import zlib

    wbits = {"gzip": 31, "deflate": 15, "raw-deflate": -15}[encoding]
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    zero = bytes(1024 * 1024)
    return b"".join(c.compress(zero) for _ in range(BOMB // len(zero))) + c.flush()


_BODIES: dict[str, bytes] = {}


class _BombOrigin(http.server.BaseHTTPRequestHandler):
    """Serves one hostile body. ``length``: 'absent' (close-delimited), 'honest', 'lying-small' (a
    Content-Length far below the body) or 'lying-huge' (far above)."""

    encoding = "identity"
    length = "absent"
    requests = 0
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:  # noqa: N802
        cls = type(self)
        cls.requests += 1
        if self.headers.get("If-None-Match") == '"bomb"':
            self.send_response(304)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("ETag", '"bomb"')
        if cls.encoding != "identity":
            self.send_header("Content-Encoding", "deflate" if cls.encoding == "raw-deflate" else cls.encoding)
        size = BOMB if cls.encoding == "identity" else len(_BODIES[cls.encoding])
        if cls.length != "absent":
            self.send_header("Content-Length", str({"honest": size, "lying-small": 1000, "lying-huge": 10**12}[cls.length]))
        self.end_headers()
        try:
            if cls.encoding == "identity":
                chunk = bytes(1024 * 1024)
                for _ in range(BOMB // len(chunk)):
                    self.wfile.write(chunk)
            else:
                self.wfile.write(_BODIES[cls.encoding])
        except OSError:
            pass  # the client hung up, as it should

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("length", ["absent", "honest", "lying-small", "lying-huge"])
@pytest.mark.parametrize("encoding", ["identity", "gzip", "deflate", "raw-deflate"])
def test_sources_download_is_capped_on_the_wire_and_after_decoding(site_keys, encoding, length):
    """Issue #12: an 815 KB gzip body inflated to 1.7 GB before the 16 MiB check, at every poll.
    Each body here decodes to 64 MiB: it is refused with the peak memory below what holding it would
    take, and (its ETag remembered) not downloaded again."""
    import asyncio
    import tracemalloc

    from edge_server.bundles import BundleManager
    from edge_server.config import Config

    if encoding != "identity" and encoding not in _BODIES:
        _BODIES[encoding] = _compressed(encoding)
    origin_cls = type("Bomb", (_BombOrigin,), {"encoding": encoding, "length": length, "requests": 0})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), origin_cls)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    m = BundleManager(Config(bundle=f"http://127.0.0.1:{httpd.server_address[1]}/site.bundle", public_keys=[str(site_keys[1])]))
    try:
        tracemalloc.start()
        assert asyncio.run(m.check()) is False
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert m.current is None and m.state.failures == 1
        assert peak < CAP + CAP // 2 + 4 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
        if length == "lying-huge":
            assert "Content-Length" in m.state.last_error  # refused before reading the body
        elif length != "lying-small":
            assert "larger than" in m.state.last_error, m.state.last_error
        assert asyncio.run(m.check()) is False and origin_cls.requests == 2  # revalidated (304), not downloaded again
        assert m.state.failures == 1
    finally:
        tracemalloc.stop()
        httpd.shutdown()


def test_sources_download_decodes_gzip_and_deflate_bundles(site_keys):
    """The bounded decoder serves real bundles: a good bundle sent gzip-, deflate- or raw-deflate-
    encoded loads; an encoding the server cannot bound (br) is refused with the remedy."""
    import asyncio
    import zlib

    from edge_server.bundles import BundleManager
    from edge_server.config import Config

    key, pub = site_keys
    good = compile_version(key, 1, "v1")
    for enc, wbits in (("gzip", 31), ("deflate", 15), ("deflate", -15), ("br", 31)):
        c = zlib.compressobj(6, zlib.DEFLATED, wbits)
        body = c.compress(good) + c.flush()

        class Origin(http.server.BaseHTTPRequestHandler):
            encoding, body_bytes = enc, body

            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Encoding", self.encoding)
                self.send_header("Content-Length", str(len(self.body_bytes)))
                self.end_headers()
                self.wfile.write(self.body_bytes)

            def log_message(self, *args: object) -> None:
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Origin)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        try:
            m = BundleManager(Config(bundle=f"http://127.0.0.1:{httpd.server_address[1]}/b", public_keys=[str(pub)]))
            loaded = asyncio.run(m.check())
            if enc == "br":
                assert not loaded and "Content-Encoding 'br' is not supported" in m.state.last_error
            else:
                assert loaded and m.current.version == 1, (enc, wbits, m.state.last_error)
        finally:
            httpd.shutdown()


# ------------------------------------------------------------------ issue #20: validators and downloads that broke off
def test_sources_refused_body_without_etag_is_revalidated_by_last_modified_and_a_broken_download_is_retried(tmp_path, site_keys):
    """An origin with Last-Modified and no ETag (a static file server): a refused body (over the cap)
    is revalidated with If-Modified-Since (304), not downloaded again, until the file changes; a
    Last-Modified within a second of Date is no validator (a change in that second could keep it).
    A download that broke off is not remembered: the next look downloads it again."""
    import asyncio
    import functools
    import time

    from edge_server.bundles import BundleManager
    from edge_server.config import Config

    key, pub = site_keys
    site = tmp_path / "site"
    site.mkdir()
    big = site / "site.bundle"
    big.write_bytes(bytes(CAP + 1))
    os.utime(big, (time.time() - 30, time.time() - 30))
    counts = {"full": 0, "304": 0, "cut": False}

    class Static(http.server.SimpleHTTPRequestHandler):
        def send_response(self, code, message=None):  # noqa: ANN001
            counts["full" if code == 200 else str(code)] = counts.get("full" if code == 200 else str(code), 0) + 1
            super().send_response(code, message)

        def copyfile(self, source, outputfile):  # noqa: ANN001
            if counts["cut"]:  # half the body under the full Content-Length, then the connection closes
                outputfile.write(source.read(os.fstat(source.fileno()).st_size // 2))
                self.close_connection = True
                return
            super().copyfile(source, outputfile)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Static, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    m = BundleManager(Config(bundle=f"http://127.0.0.1:{httpd.server_address[1]}/site.bundle", public_keys=[str(pub)]))

    async def scenario() -> None:
        assert await m.check() is False and "larger than" in m.state.last_error
        for _ in range(3):
            assert await m.check() is False
        assert counts["full"] == 1 and counts["304"] == 3 and m.state.failures == 1
        big.write_bytes(compile_version(key, 1, "v1"))  # changed just now: Last-Modified within a second of Date
        counts["cut"] = True
        assert await m.check() is False and "RemoteProtocolError" in m.state.last_error, m.state.last_error
        counts["cut"] = False
        assert await m.check() is True and m.current.version == 1  # tried again, whole this time
        assert counts["full"] == 3
        await m.aclose()

    try:
        asyncio.run(scenario())
    finally:
        httpd.shutdown()
    from edge_server.bundles import _validator

    date = "Sun, 06 Dec 2026 12:00:05 GMT"
    for lm, expected in (("Sun, 06 Dec 2026 12:00:05 GMT", None), ("Sun, 06 Dec 2026 12:00:04 GMT", ("last-modified", "Sun, 06 Dec 2026 12:00:04 GMT")),
                         ("not a date", None)):
        assert _validator(httpx.Headers({"last-modified": lm, "date": date})) == expected
    assert _validator(httpx.Headers({"etag": '"e"', "last-modified": "Sun, 06 Dec 2026 12:00:04 GMT", "date": date})) == ("etag", '"e"')
