"""The worker's caches are bounded by bytes whatever the origin and visitors send (issue #20 point 7,
docs/security.md): real workerd in page mode in front of an origin whose 1.9 MB page echoes ``?q=``
(every query a new page: the page-scan cache), then requests with distinct 2 KB URLs, 2 KB
referrers and 512-character user agents (the request-signals and device caches), all under a V8 heap
limit of 64 MB (half a Cloudflare isolate's 128 MB): the page-scan cache before #20 kept up to 64
such pages (120 MB), and workerd died at the 29th page. workerd's resident memory (V8 heap,
garbage not yet collected, the buffers outside the heap) is read from /proc and printed (``pytest -s``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.edge_worker.page_runtimes import Answer, ProgrammableOrigin, page_runtimes

PAGE_BYTES = 1_900_000
PAGES = 63
LONG_REQUESTS = 300
#: workerd's V8 heap limit: every request below must be served within it (the caches' budgets sum to 13 MiB).
HEAP = "--max-old-space-size=64"

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads resident memory from /proc (Linux)")


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def big_page(query: str) -> bytes:
    head = b'<!DOCTYPE html><html><body><div data-strata-slot="hero">hero</div><p>' + query.encode()[:200] + b"</p>"
    return head + b"<p>" + b"x" * (PAGE_BYTES - len(head) - 20) + b"</p></body></html>"


SMALL = b'<!DOCTYPE html><html><body><div data-strata-slot="hero">hero</div></body></html>'


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    origin = ProgrammableOrigin()
    origin.answers["/big"] = Answer(200, [("Content-Type", "text/html; charset=utf-8")], big_page)
    origin.answers["/small"] = Answer(200, [("Content-Type", "text/html; charset=utf-8")], SMALL)
    try:
        with page_runtimes(tmp_path_factory.mktemp("memory"), origin.url, debug=False, only_worker=True, v8_flags=(HEAP,)) as rt:
            yield rt
    finally:
        origin.stop()


def test_worker_memory_caches_stay_bounded_under_a_64_mb_heap(worker: dict[str, Any]) -> None:
    pid = worker["workerd"].proc.pid
    with httpx.Client(base_url=worker["worker"], timeout=30) as c:
        for i in range(3):  # warm: the bundle loaded, the code compiled
            assert c.get(f"/big?q=warm{i}").status_code == 200
        before = status_kib(pid, "VmRSS")
        for i in range(PAGES):
            r = c.get(f"/big?q=query-{i}")
            assert r.status_code == 200 and f"query-{i}" in r.text
        after_pages = status_kib(pid, "VmRSS")
        for i in range(LONG_REQUESTS):
            r = c.get(f"/small?u={i}&pad=" + "p" * 2000, headers={
                "referer": f"https://ref{i}.example/" + "r" * 2000, "user-agent": f"Mozilla/5.0 (X11; Linux) agent-{i} " + "u" * 480,
                "accept-language": "en-GB," + ",".join(f"x{j}{i}" for j in range(60))})
            assert r.status_code == 200
        after = status_kib(pid, "VmRSS")
        peak = status_kib(pid, "VmHWM")
    sys.stdout.write(f"\nworkerd RSS: {before / 1024:.1f} MiB after warm-up, {after_pages / 1024:.1f} MiB after {PAGES} distinct "
                     f"{PAGE_BYTES / 1e6:.1f} MB pages, {after / 1024:.1f} MiB after {LONG_REQUESTS} distinct long requests; peak {peak / 1024:.1f} MiB\n")
    assert worker["workerd"].proc.poll() is None  # alive: no request above exceeded the heap
