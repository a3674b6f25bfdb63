"""The browser runtime's harness, shared by tests/browser/ and benchmarks/browser_bench.py: the build
(edge_worker/tools/build_browser.js, esbuild) into a directory; a static site on 127.0.0.1
(Python's http.server in a thread) that answers with ETags and 304s as any static host does and
records every request it gets, so a caller can see what the browser asked for (If-None-Match, the
headers a server would derive signals from); the page tag of edge_worker/tools/static_site.py."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import TypedDict

import httpx

from .workerd import EDGE_WORKER, npm_ci

__all__ = ["ARGS", "EDGE_WORKER", "Request", "StaticSite", "build_browser", "serve_site", "static_site_tool"]

ROOT = EDGE_WORKER.parent
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript", ".json": "application/json",
         ".css": "text/css", ".png": "image/png", ".svg": "image/svg+xml", ".pub": "text/plain", ".strata": "application/octet-stream"}


class BrowserBuild(TypedDict):
    module: Path  # strata.mjs
    script: Path  # strata.js
    parts: dict[str, Path]  # name -> strata-NAME.mjs, loaded lazily from beside the module or script


def build_browser(out: Path) -> BrowserBuild:
    """dist/strata.mjs, dist/strata.js and their lazily loaded parts (``parts``: name -> strata-NAME.mjs,
    served beside them), built from edge_worker/browser/ into ``out``."""
    npm_ci()
    r = subprocess.run(["node", "tools/build_browser.js", str(out)], cwd=EDGE_WORKER, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"building the browser runtime failed:\n{r.stdout}\n{r.stderr}")
    return {"module": out / "strata.mjs", "script": out / "strata.js", "parts": {p.stem.removeprefix("strata-"): p for p in sorted(out.glob("strata-*.mjs"))}}


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    status: int
    body: bytes = b""


@dataclass
class StaticSite:
    """Files by URL path (``files``: path -> bytes) and directories by URL prefix (``dirs``)."""

    files: dict[str, bytes] = field(default_factory=dict)
    dirs: dict[str, Path] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)  # path -> seconds before answering (a slow CDN)
    cache_control: str = "no-cache"
    cache_controls: dict[str, str] = field(default_factory=dict)  # path -> its own Cache-Control (a versioned script: immutable)
    requests: list[Request] = field(default_factory=list)
    #: an edge's URL (``strata serve``, workerd) that POSTs are passed to, as a CDN routes ``/v1/events``
    #: to the site's own edge: the browser's beacons stay same-origin; None: POSTs are recorded and accepted
    forward: str | None = None

    def __post_init__(self) -> None:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                path = self.path.split("?", 1)[0].split("#", 1)[0]
                body = site.lookup(path)
                if path in site.delays:
                    time.sleep(site.delays[path])
                headers = {k.lower(): v for k, v in self.headers.items()}
                if body is None:
                    status, out = 404, b"not found"
                    extra: list[tuple[str, str]] = []
                else:
                    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                    extra = [("ETag", etag), ("Cache-Control", site.cache_controls.get(path, site.cache_control)), ("Content-Type", TYPES.get(Path(path).suffix or ".html", "application/octet-stream"))]
                    status, out = (304, b"") if headers.get("if-none-match") == etag else (200, body)
                site.requests.append(Request(path, headers, status))
                self.send_response(status)
                for k, v in extra:
                    self.send_header(k, v)
                if status != 304:
                    self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                try:
                    self.wfile.write(out)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the browser went away (a context closed mid-load)

            def do_POST(self) -> None:  # noqa: N802 (http.server's name): recorded and accepted (or forwarded), as an events endpoint
                body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, out = 202, b""
                if site.forward is not None:
                    passed = {k: v for k, v in headers.items() if k not in ("host", "content-length", "connection")}
                    passed["x-forwarded-host"] = headers.get("host", "")
                    r = httpx.post(site.forward + self.path, content=body, headers=passed, timeout=10)
                    status, out = r.status_code, r.content
                site.requests.append(Request(self.path, headers, status, body))
                self.send_response(status)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def lookup(self, path: str) -> bytes | None:
        if path.endswith("/"):
            path += "index.html"
        if path in self.files:
            return self.files[path]
        for prefix, d in self.dirs.items():
            if path.startswith(prefix):
                f = (d / path[len(prefix):]).resolve()
                if f.is_relative_to(d.resolve()) and f.is_file():
                    return f.read_bytes()
        return None

    def seen(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def static_site_tool() -> ModuleType:
    """edge_worker/tools/static_site.py (a script, not a package module)."""
    spec = importlib.util.spec_from_file_location("static_site", EDGE_WORKER / "tools" / "static_site.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def serve_site(site: StaticSite, pages: Path, tag: str) -> None:
    """The HTML pages of ``pages`` at the root of ``site``, each with ``tag`` in its <head>
    (static_site.py's inject), and its static/ folder; client.html (which asks a server) left out."""
    inject = static_site_tool().inject
    for f in pages.iterdir():
        if f.suffix == ".html" and f.name != "client.html":
            site.files["/" + f.name] = inject(f.read_text(), tag).encode()
    site.dirs["/static/"] = pages / "static"
