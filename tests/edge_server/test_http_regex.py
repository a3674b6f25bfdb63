"""The real server with regex rules against adversarial requests: catastrophic-backtracking patterns
on the URL path and on a 15 KB client signal answer correctly, and the server keeps answering
(``/healthz``) in between. Under Python's ``re`` one such request took minutes and stalled the
event loop; the test asserts answers, never time."""

from __future__ import annotations

import base64
import re

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.pipeline import Options, run
from edge_server.harness.server import RunningServer

#: The issue's author pattern on the path, and nested quantifiers on a client signal.
RULES = """\
strata: 1
name: rx
signals:
  note.text: {type: string, category: contextual, max_length: 15000}
segments:
  - id: slug
    layer: broad
    when: 'page.path.matches(r"^/([A-Za-z0-9]+-?)*$")'
  - id: words
    layer: broad
    when: 'note.text.matches(r"^([a-z]+ ?)*$")'
slots:
  - id: path
    default: {headline: other}
    rules:
      - {id: slug, segment: slug, content: {headline: slug}}
  - id: note
    default: {headline: other}
    rules:
      - {id: words, segment: words, content: {headline: words}}
"""

SLUG = re.compile(r"/([A-Za-z0-9]+(-[A-Za-z0-9]+)*-?)?")  # the same languages, without ambiguous quantifiers
WORDS = re.compile(r"([a-z]+( [a-z]+)* ?)?")


COOKIE_KEYS = "k1:" + base64.b64encode(b"\x01" * 32).decode()


@pytest.fixture(scope="module")
def server(tmp_path_factory, site_keys):
    key, pub = site_keys
    d = tmp_path_factory.mktemp("rx")
    bundle = d / "rx.bundle"
    bundle.write_bytes(run("rx.yaml", Options(key=key), text=RULES).bundle)
    s = RunningServer(["--bundle", str(bundle), "--pub", str(pub), "--insecure-cookie"], env={"STRATA_COOKIE_KEYS": COOKIE_KEYS})
    yield s
    s.stop()


@st.composite
def adversarial(draw: st.DrawFn) -> tuple[str, str]:
    """(URL path up to 2 KB, client text up to 15 KB): long runs a backtracker almost matches."""
    unit = draw(st.sampled_from(["a", "ab", "a1", "Tent2"]))
    n = draw(st.integers(200, 1_900))
    path = "/" + (unit * n)[: n] + draw(st.sampled_from(["", "!", "-", "--", "-x", "_"]))
    m = draw(st.integers(2_000, 14_900))
    word = draw(st.sampled_from(["a", "ab", "tent "]))
    text = (word * m)[:m] + draw(st.sampled_from(["", "!", " ", "  ", "A"]))
    return path, text


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=adversarial())
def test_http_regex_adversarial_requests_get_the_right_answer(server: RunningServer, case: tuple[str, str]) -> None:
    path, text = case
    with httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.post("/v1/decide", json={"page": {"url": path}, "signals": {"note.text": text}})
        assert r.status_code == 200, r.text
        slots = r.json()["slots"]
        assert slots["path"]["reason"] == ("rule" if SLUG.fullmatch(path) else "default"), path[-20:]
        assert slots["note"]["reason"] == ("rule" if WORDS.fullmatch(text) else "default"), text[-20:]
        assert c.get("/healthz").status_code == 200
