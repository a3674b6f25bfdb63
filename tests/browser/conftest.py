"""Fixtures of the browser runtime's tests: one build per run, one headless Chromium (Debian's package,
driven by playwright) per test module; a static site on 127.0.0.1 serving the build, the shared
vectors and each test's pages."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.harness import ARGS, VECTORS, StaticSite, build_browser, serve_site, static_site_tool

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from tests.edge_worker.workerd import require_node

    require_node()
    return build_browser(tmp_path_factory.mktemp("strata-browser"))


@pytest.fixture(scope="module")
def site(built: dict[str, Any]) -> Iterator[StaticSite]:
    s = StaticSite(dirs={"/vectors/": VECTORS})
    s.files["/strata.mjs"] = built["module"].read_bytes()
    s.files["/strata.js"] = built["script"].read_bytes()
    for part in built["parts"].values():
        s.files["/" + part.name] = part.read_bytes()
    s.files["/blank.html"] = b"<!DOCTYPE html><html><head><title>blank</title></head><body></body></html>"
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("Chromium not found: apt-get install chromium (.ci/run does)")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def context(browser: Any, site: StaticSite) -> Iterator[Any]:
    ctx = browser.new_context(base_url=site.url)
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def trailblazer(site: StaticSite) -> dict[str, Any]:
    """The TrailBlazer rule set (no holdout) compiled and signed with a fresh key, at /trailblazer.strata;
    ``pem``: its public key, ``key``: the base64 body a page's data-key carries."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from tests.edge_worker.page_runtimes import signed_bundle

    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    site.files["/trailblazer.strata"] = signed_bundle(key)
    return {"pem": pem, "key": static_site_tool().key_line(pem), "private": key, "url": "/trailblazer.strata"}


SITE = VECTORS.parent.parent / "rulesets" / "trailblazer" / "site"


def serve_trailblazer(site: StaticSite, trailblazer: dict[str, Any], attrs: str = "", bundle: str | None = None, timeout: int = 10_000) -> None:
    """The TrailBlazer demo site as plain static files, each page with the script tag of
    edge_worker/tools/static_site.py (``attrs``: more data- attributes). The anti-flicker timeout
    is long by default: a loaded test machine must not turn a test of decisions into one of speed
    (tests/browser/test_browser_page.py tests the timeout itself)."""
    tag = static_site_tool().script_tag(bundle or trailblazer["url"], trailblazer["key"], f' data-timeout="{timeout}"{attrs}')
    serve_site(site, SITE, tag)
