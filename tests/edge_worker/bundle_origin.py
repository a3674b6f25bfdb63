"""A local bundle origin and KV service for tests of how the worker (and the server) source bundles:
one threaded HTTP server on a free 127.0.0.1 port, in the test process, that

- serves ``/bundle``: the bytes the test sets, with the headers it sets (an ETag, a
  ``Content-Encoding: gzip`` for a compression bomb, ...), answering ``If-None-Match`` with 304,
  and counting full downloads and 304s;
- with ``kv=True``, speaks workerd's KV protocol instead (GET, PUT, DELETE of ``/<urlencoded key>``):
  point a ``kvNamespace`` binding at it (RunningWorkerd(kv={BINDING: origin.address})).

Its KV store outlives workerd restarts, as a KV namespace outlives isolates."""

from __future__ import annotations

import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from edge_server.harness.ports import free_port


def gzip_of_zeros(size: int) -> bytes:
    """A gzip member decoding to ``size`` zero bytes (a whole number of MiB): a compression bomb of
    about 1 KB per MiB, built from one fully flushed deflate segment repeated (fast to make)."""
    step = 1 << 20
    assert size % step == 0
    zeros = bytes(step)
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    segment = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)  # ends byte-aligned with a fresh window
    tail = c.flush()
    crc = 0
    for _ in range(size // step):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + segment * (size // step) + tail + struct.pack("<II", crc, size & 0xFFFFFFFF)


class BundleOrigin:
    def __init__(self, kv: bool = False) -> None:
        self.body: bytes | None = None  # None: 404
        self.headers: dict[str, str] = {}
        self.declare_length = True  # False: close-delimited bodies (no Content-Length)
        self.truncate = False  # True: send half the body under the full Content-Length, then close
        self.downloads = 0  # 200 answers to /bundle
        self.not_modified = 0  # 304 answers
        self.kv: dict[str, bytes] = {}
        self.lock = threading.Lock()
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: object) -> None:
                pass

            def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, length: bool = True) -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                cut = status == 200 and origin.truncate
                if length:
                    self.send_header("Content-Length", str(len(body)))
                else:  # close-delimited: the client learns the size only by reading
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if cut:  # half the body, then the connection closes: a download that broke off
                    body = body[: len(body) // 2]
                    self.close_connection = True
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading: what a bounded download does

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                if kv:
                    value = origin.kv.get(unquote(path[1:]))
                    self._send(200, value) if value is not None else self._send(404, b"not found")
                    return
                if path != "/bundle":
                    self._send(404)
                    return
                with origin.lock:
                    body, headers = origin.body, dict(origin.headers)
                    if body is None:
                        self._send(404, b"no bundle published")
                        return
                    etag = headers.get("ETag")
                    if etag is not None and self.headers.get("If-None-Match") == etag:
                        origin.not_modified += 1
                        self._send(304, b"", {"ETag": etag})
                        return
                    origin.downloads += 1
                    length = origin.declare_length
                self._send(200, body, headers, length)

            def do_PUT(self) -> None:
                path = urlsplit(self.path).path
                n = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(n)
                if not kv:
                    self._send(405)
                    return
                origin.kv[unquote(path[1:])] = data
                self._send(200)

            def do_DELETE(self) -> None:
                origin.kv.pop(unquote(urlsplit(self.path).path[1:]), None)
                self._send(200)

        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.address}"
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, body: bytes | None, declare_length: bool = True, truncate: bool = False, **headers: str) -> None:
        """Serve ``body`` at /bundle from now on, with ``headers`` (underscores become dashes), with a
        Content-Length or (``declare_length=False``) close-delimited; None: 404 (nothing published)."""
        with self.lock:
            self.body = body
            self.declare_length = declare_length
            self.truncate = truncate
            self.headers = {k.replace("_", "-"): v for k, v in headers.items()}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
