"""Both runtimes in page mode in front of one origin, for tests of what page mode does to an
origin's responses: the real server (``strata serve --origin``) and the worker in real workerd
(``STRATA_ORIGIN``), each with the TrailBlazer bundle (no holdout) and its debug panel on; and a
programmable origin, a real HTTP server on 127.0.0.1 whose answer per path a test sets."""

from __future__ import annotations

import base64
import http.server
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_server.harness.server import RunningServer
from tests.conftest import trailblazer_without_holdout
from tests.edge_worker.workerd import RunningWorkerd, StaticOrigin, require_node

COOKIE_KEYS = "k1:" + base64.b64encode(b"\x05" * 32).decode()


@dataclass
class Answer:
    """What the origin answers at one path: status, headers (repeated names as repeated pairs), body
    (or a function of the query string giving it)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes | Callable[[str], bytes]
    requests: list[dict[str, str]] = field(default_factory=list)


class ProgrammableOrigin:
    """An HTTP/1.1 origin on a free 127.0.0.1 port answering each path from ``answers`` (404 otherwise)."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        answers = self.answers

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                path, _, query = self.path.partition("?")
                a = answers.get(path)
                if a is None:
                    self.send_response(404)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                a.requests.append({k.lower(): v for k, v in self.headers.items()})
                body = a.body(query) if callable(a.body) else a.body
                self.send_response(a.status)
                for k, v in a.headers:
                    self.send_header(k, v)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def signed_bundle(key: Ed25519PrivateKey) -> bytes:
    from compiler.pipeline import Options, run

    ctx = run("trailblazer.yaml", Options(key=key, created=int(time.time()) - 60, version=int(time.time()) // 60, codec="gzip"),
              text=trailblazer_without_holdout())
    assert ctx.bundle is not None
    return ctx.bundle


@contextmanager
def page_runtimes(directory: Path, origin_url: str, debug: bool = True, only_worker: bool = False,
                  v8_flags: tuple[str, ...] = ()) -> Iterator[dict[str, Any]]:
    """{"server": url, "worker": url, "workerd": RunningWorkerd}: both runtimes in page mode in front
    of ``origin_url`` (``only_worker``: no server; ``v8_flags``: workerd's V8 flags)."""
    require_node()
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    bundles = directory / "bundles"
    bundles.mkdir(parents=True)
    (bundles / "trailblazer.bundle").write_bytes(signed_bundle(key))
    rs = directory / "trailblazer.yaml"
    rs.write_text(trailblazer_without_holdout())
    bundle_origin = StaticOrigin(bundles)
    server = worker = None
    try:
        server = None if only_worker else RunningServer([str(rs), "--origin", origin_url, *(["--debug"] if debug else [])],
                               env={"STRATA_COOKIE_KEYS": COOKIE_KEYS}, log=directory / "server.log")
        worker = RunningWorkerd(directory / "workerd", {
            "STRATA_BUNDLE": bundle_origin.url + "/trailblazer.bundle", "STRATA_PUB": pub, "STRATA_ORIGIN": origin_url,
            "STRATA_COOKIE_KEYS": COOKIE_KEYS, "STRATA_COOKIE_SECURE": "0", "STRATA_DEBUG": "1" if debug else "0"}, v8_flags=v8_flags)
        yield {"server": server.url if server else None, "worker": worker.url, "workerd": worker}
    finally:
        if worker is not None:
            worker.stop()
        if server is not None:
            server.stop()
        bundle_origin.stop()
