"""Fixtures of the browser runtime's tests: one build and one headless Chromium (Debian's package,
driven by playwright) per test module; a static site on 127.0.0.1 serving the build, the shared
vectors and each test's pages."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.harness import ARGS, VECTORS, StaticSite, build_browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from tests.edge_worker.workerd import require_node

    require_node()
    return build_browser(tmp_path_factory.mktemp("strata-browser"))


@pytest.fixture(scope="module")
def site(built: dict[str, Any]) -> Iterator[StaticSite]:
    s = StaticSite(dirs={"/vectors/": VECTORS})
    s.files["/strata.mjs"] = built["module"].read_bytes()
    s.files["/strata.js"] = built["script"].read_bytes()
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
