"""The two ports of page mode's header rules answer alike: edge_server/origin_headers.py and csp.py
against edge_worker/worker/origin_headers.js and csp.js (run by Node), on generated origin headers —
Cache-Control combinations, Vary, validators, Connection-named headers, several Set-Cookie — and
generated Content-Security-Policy headers (nonces, hashes, 'unsafe-inline', 'none', default-src
only, several policies, report-only)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from collections import Counter
from typing import Any

from edge_server.csp import allow_inline_style
from edge_server.origin_headers import page_headers
from tests.edge_worker.workerd import EDGE_WORKER, require_node

DIRECTIVES = ["public", "private", "no-store", "no-cache", "max-age=0", "max-age=600", 's-maxage="300"', "must-revalidate",
              "proxy-revalidate", "no-transform", "Private", "stale-if-error=60"]
SOURCES = ["'self'", "'none'", "'unsafe-inline'", "'nonce-abc'", "'nonce-xyz'", "'sha256-AAAA'", "https://cdn.example", "data:"]
CSS = "#strata-debug{position:fixed}"


def policy(rnd: random.Random) -> str:
    names = rnd.sample(["default-src", "style-src", "style-src-elem", "script-src", "img-src"], rnd.randint(1, 3))
    return "; ".join(" ".join([n, *rnd.sample(SOURCES, rnd.randint(0, 3))]) for n in names)


def origin_headers(rnd: random.Random) -> list[tuple[str, str]]:
    h: list[tuple[str, str]] = [("Content-Type", "text/html")]
    for _ in range(rnd.choice([0, 1, 1, 2])):
        h.append(("Cache-Control", ", ".join(rnd.sample(DIRECTIVES, rnd.randint(0, 4)))))
    for _ in range(rnd.randint(0, 2)):
        h.append(("Vary", rnd.choice(["Accept-Encoding", "Origin", "*", "cookie"])))
    if rnd.random() < 0.5:
        h.append(("ETag", rnd.choice(['"e1"', 'W/"e2"'])))
    if rnd.random() < 0.3:
        h.append(("Content-Encoding", "gzip"))
    if rnd.random() < 0.3:
        h += [("Connection", "x-private, Keep-Alive"), ("x-private", "1"), ("keep-alive", "timeout=5")]
    h += [("Set-Cookie", c) for c in rnd.sample(["a=1", "b=2; Path=/", "c=3; Secure"], rnd.randint(0, 3))]
    for name in rnd.choices(["Content-Security-Policy", "Content-Security-Policy-Report-Only"], k=rnd.choice([0, 1, 1, 1, 2])):
        h.append((name, ", ".join(policy(rnd) for _ in range(rnd.choice([1, 1, 2])))))
    h += [("X-Frame-Options", "DENY"), ("Last-Modified", "Sun, 06 Dec 2026 10:00:00 GMT")]
    return h


def cases(n: int, seed: int = 20) -> list[dict[str, Any]]:
    """``n`` generated cases (a fixed seed: a run's verdict depends only on the code)."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        personalised = rnd.random() < 0.5
        out.append({"origin": [[k.lower(), v] for k, v in origin_headers(rnd)], "personalised": personalised,
                    "credentialed": rnd.random() < 0.5, "bodyChanged": personalised or rnd.random() < 0.5,
                    "contentType": "text/html; charset=utf-8" if personalised else None,
                    "setCookie": rnd.choice([None, "strata_session=s1.x"])})
    return out


NODE = """
import { pageHeaders } from "./worker/origin_headers.js";
import { allowInlineStyle } from "./worker/csp.js";
const cases = JSON.parse(await new Response(process.stdin).text());
const out = [];
for (const c of cases.cases) {
  const headers = pageHeaders(c.origin, c);
  const style = await allowInlineStyle(headers, cases.css);
  out.push({ headers, style: [style.allowed, style.nonce, style.headers] });
}
process.stdout.write(JSON.stringify(out));
"""


def python_answer(c: dict[str, Any]) -> dict[str, Any]:
    headers = page_headers([tuple(p) for p in c["origin"]], personalised=c["personalised"], credentialed=c["credentialed"],
                           body_changed=c["bodyChanged"], content_type=c["contentType"], set_cookie=c["setCookie"])
    allowed, nonce, amended = allow_inline_style(headers, CSS)
    return {"headers": [list(p) for p in headers], "style": [allowed, nonce, [list(p) for p in amended]]}


def test_origin_headers_parity_python_and_worker_ports_agree() -> None:
    require_node()
    batch = cases(1500)
    kinds = Counter(_kind(python_answer(c)) for c in batch)
    assert min(kinds[k] for k in ("as is", "nonce", "hash", "refused")) >= 20, kinds  # the generator reaches every outcome
    node = shutil.which("node")
    assert node is not None
    r = subprocess.run([node, "--input-type=module", "-e", NODE], cwd=EDGE_WORKER, input=json.dumps({"cases": batch, "css": CSS}),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    for c, js in zip(batch, json.loads(r.stdout), strict=True):
        assert python_answer(c) == js, c


def _kind(answer: dict[str, Any]) -> str:
    allowed, nonce, amended = answer["style"]
    return "refused" if not allowed else "nonce" if nonce else "hash" if amended != answer["headers"] else "as is"
