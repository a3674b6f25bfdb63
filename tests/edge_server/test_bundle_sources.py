"""Bundle sources under a running server: a watched file, an HTTP origin with ETag, development
mode. Bad bundles are refused, counted in /metrics, and the last good one keeps serving."""

from __future__ import annotations

import base64
import http.server
import threading

import httpx

from compiler.pipeline import Options, run
from tests.conftest import TRAILBLAZER
from tests.edge_server.server import RunningServer, metric, wait_for

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
