"""Strata's additions to an origin's page work under the origin's strict Content-Security-Policy, in
real headless Chromium, on both runtimes (the real server with ``--origin`` and the worker in real
workerd): the page is personalised (server-side with the debug panel, or by /v1/client.js loaded
with the origin's nonce), and the browser reports no CSP violation (securitypolicyviolation events
and console errors both watched). docs/security.md, "Page mode keeps the origin's protections"."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.edge_worker.page_runtimes import Answer, ProgrammableOrigin, page_runtimes

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium not found: apt-get install chromium (.ci/run does)")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

NONCE = "cSp-n0nce-4f2a"
NEWSLETTER = "?utm_source=newsletter&utm_medium=email&utm_campaign=camping-spring"
#: Policies an origin may send, each strict: no 'unsafe-inline' anywhere.
POLICIES = {
    "script-nonce": f"default-src 'self'; script-src 'nonce-{NONCE}'",
    "style-nonce": f"default-src 'self'; script-src 'nonce-{NONCE}'; style-src 'self' 'nonce-{NONCE}'",
    "style-none": f"default-src 'self'; script-src 'nonce-{NONCE}'; style-src 'none'",
    "two-policies": f"default-src 'self' 'nonce-{NONCE}', script-src 'nonce-{NONCE}' 'self'; style-src 'self'",
}
#: An inline script without the nonce: the origin's policy must block it, and the watch must see exactly that.
CONTROL = "<script>window.unNonced = 1;</script>"
SERVER_PAGE = f"""<!DOCTYPE html><html><head><title>s</title><script nonce="{NONCE}">window.originScript = 1;</script>{CONTROL}</head>
<body><section data-strata-slot="hero"><h2>origin hero</h2></section></body></html>"""
CLIENT_PAGE = f"""<!DOCTYPE html><html data-strata-mode="client"><head><title>c</title>{CONTROL}</head>
<body><section data-strata-slot="hero"><h2>origin hero</h2></section>
<script nonce="{NONCE}" src="/v1/client.js"></script></body></html>"""
WATCH = """window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(e.violatedDirective + " " + e.blockedURI));"""


@pytest.fixture(scope="module")
def origin() -> Iterator[ProgrammableOrigin]:
    o = ProgrammableOrigin()
    for name, policy in POLICIES.items():
        for mode, page in (("server", SERVER_PAGE), ("client", CLIENT_PAGE)):
            o.answers[f"/{mode}/{name}"] = Answer(200, [("Content-Type", "text/html; charset=utf-8"), ("Content-Security-Policy", policy)],
                                                  page.encode())
    yield o
    o.stop()


@pytest.fixture(scope="module")
def runtimes(origin: ProgrammableOrigin, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with page_runtimes(tmp_path_factory.mktemp("csp"), origin.url) as urls:
        yield urls


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _visit(browser, url: str) -> tuple[Any, list[str]]:  # type: ignore[no-untyped-def]
    ctx = browser.new_context()
    ctx.add_init_script(WATCH)
    page = ctx.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type in ("error", "warning") else None)
    page.goto(url)
    page.wait_for_selector('[data-strata-slot="hero"][data-strata-reason]', timeout=10_000)
    page.wait_for_load_state("networkidle")
    # the control: the origin's policy is in force and the watch sees its violation, and only that one
    assert page.evaluate("window.unNonced") is None
    violations = page.evaluate("window.__violations")
    assert violations and set(violations) == {"script-src-elem inline"}, violations  # one per policy that refuses it
    return page, [c for c in console if "Content Security Policy" in c and "window.unNonced" not in c and "script-src" not in c]


@pytest.mark.parametrize("runtime", ["server", "worker"])
@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_csp_personalised_page_with_debug_panel_under_strict_policy(browser, runtimes, runtime: str, policy: str) -> None:  # type: ignore[no-untyped-def]
    page, console = _visit(browser, runtimes[runtime] + f"/server/{policy}" + NEWSLETTER)
    assert "Your camping season starts here" in page.inner_text('[data-strata-slot="hero"]')
    assert page.evaluate("window.originScript") == 1  # the origin's own nonce script still runs
    assert console == [], console
    position = page.evaluate("getComputedStyle(document.getElementById('strata-debug')).position")
    assert position == ("static" if policy == "style-none" else "fixed")  # styled unless the origin allows no style at all
    page.context.close()


@pytest.mark.parametrize("runtime", ["server", "worker"])
@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_csp_client_mode_page_with_nonce_script_under_strict_policy(browser, runtimes, runtime: str, policy: str) -> None:  # type: ignore[no-untyped-def]
    page, console = _visit(browser, runtimes[runtime] + f"/client/{policy}" + NEWSLETTER)
    assert "Your camping season starts here" in page.inner_text('[data-strata-slot="hero"]')
    assert console == [], console
    page.context.close()
