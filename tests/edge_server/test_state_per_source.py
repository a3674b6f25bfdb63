"""Rollback state never collides between servers (issue #20 point 4): with the default state
directory (one per user), servers started from different bundle sources keep separate state files,
so the README's production command for rule set B runs on a host that once served rule set A, and
staging and production of one rule set run side by side; a restarted server of the same source
keeps its floor, and a refusal the state file caused names the file and the flag (--state-file)
that resolves it. Real `strata serve` processes throughout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.harness.fixtures import ROOT
from compiler.pipeline import Options, run
from edge_server.config import Config
from edge_server.harness.ports import wait_for
from edge_server.harness.server import RunningServer
from edge_server.state import canonical_source, path_for, source_id
from tests.edge_server.test_bundle_sources import COOKIES, compile_version, served, with_headline


def default_state(home: Path) -> dict[str, str]:
    """The environment of a server using the default state directory under ``home``
    ($XDG_STATE_HOME/strata): STRATA_STATE_DIR empty counts as unset (and keeps the test harness
    from giving the server a private directory)."""
    return {**COOKIES, "XDG_STATE_HOME": str(home), "STRATA_STATE_DIR": "", "STATE_DIRECTORY": ""}


def other_rule_set(key, version: int) -> bytes:  # noqa: ANN001
    return run("other.yaml", Options(key=key, version=version), text=with_headline("other").replace("name: trailblazer", "name: other-site")).bundle


def state_files(home: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted((home / "strata").glob("bundle-state-*.json"))}


def test_state_rule_set_b_starts_on_a_host_that_served_rule_set_a(tmp_path, site_keys):
    """Issue #20: after a server of rule set A on this host, the README's production command for
    rule set B (--bundle-name B, default --state-dir) was refused (WrongName ... ('A')). Now it
    loads, and each source has its own state file naming its source."""
    key, pub = site_keys
    a, b = tmp_path / "a" / "site.bundle", tmp_path / "b" / "site.bundle"
    a.parent.mkdir()
    b.parent.mkdir()
    a.write_bytes(compile_version(key, 7, "A"))
    b.write_bytes(other_rule_set(key, 1))
    env = default_state(tmp_path / "home")
    s = RunningServer(["--bundle", str(a), "--pub", str(pub), "--bundle-name", "trailblazer"], env=env)
    try:
        assert served(s) == (7, "A")
        wait_for(lambda: len(state_files(tmp_path / "home")) == 1)
    finally:
        s.stop()
    s = RunningServer(["--bundle", str(b), "--pub", str(pub), "--bundle-name", "other-site"], env=env)
    try:
        body = httpx.get(s.url + "/readyz").json()
        assert body["bundle"]["name"] == "other-site" and body["last_error"] is None
        wait_for(lambda: len(state_files(tmp_path / "home")) == 2)
    finally:
        s.stop()
    files = state_files(tmp_path / "home")
    assert files == {f"bundle-state-{source_id(str(a))}.json": {"name": "trailblazer", "version": 7, "source": str(a)},
                     f"bundle-state-{source_id(str(b))}.json": {"name": "other-site", "version": 1, "source": str(b)}}


def test_state_staging_and_production_run_side_by_side_and_each_keeps_its_floor(tmp_path, site_keys):
    """Two sources of one rule set on one host (staging v5, production v6) with the default state
    directory: both serve, neither refuses the other. A restart of staging offered v4 is refused by
    its own floor, with the state file and --state-file named; --state-file with a new path starts
    afresh; production is untouched."""
    key, pub = site_keys
    staging, production = tmp_path / "staging.bundle", tmp_path / "production.bundle"
    staging.write_bytes(compile_version(key, 5, "staging"))
    production.write_bytes(compile_version(key, 6, "production"))
    env = default_state(tmp_path / "home")
    common = ["--pub", str(pub), "--bundle-name", "trailblazer", "--poll-interval", "0.1"]
    prod = RunningServer(["--bundle", str(production), *common], env=env)
    stage = RunningServer(["--bundle", str(staging), *common], env=env)
    try:
        assert served(prod) == (6, "production") and served(stage) == (5, "staging")
        staging_state = tmp_path / "home" / "strata" / f"bundle-state-{source_id(str(staging))}.json"
        wait_for(lambda: staging_state.exists() and len(state_files(tmp_path / "home")) == 2)
        stage.stop()
        staging.write_bytes(compile_version(key, 4, "older staging"))
        stage = RunningServer(["--bundle", str(staging), *common], env=env, ready=False)
        wait_for(lambda: httpx.get(stage.url + "/readyz").json()["last_error"])
        r = httpx.get(stage.url + "/readyz")
        error = r.json()["last_error"]
        assert r.status_code == 503 and error.startswith("RollbackRefused"), error
        assert f"version 5 recorded in {staging_state}" in error and "give --state-file with a new path" in error, error
        assert served(prod) == (6, "production")
        stage.stop()
        fresh = tmp_path / "fresh-staging-state.json"
        stage = RunningServer(["--bundle", str(staging), *common, "--state-file", str(fresh)], env=env)
        assert served(stage) == (4, "older staging")
        wait_for(lambda: fresh.exists())
        assert json.loads(fresh.read_text())["version"] == 4
        assert json.loads(staging_state.read_text())["version"] == 5  # the source's own file is left as it was
    finally:
        prod.stop()
        stage.stop()


def test_state_shared_only_when_told_and_the_start_error_names_file_and_flag(tmp_path, site_keys):
    """Two sources given one --state-file share a floor (told to); a state file of another rule set
    than --bundle-name stops `strata serve` with the file and --state-file in the error."""
    key, pub = site_keys
    shared = tmp_path / "shared.json"
    one, two = tmp_path / "one.bundle", tmp_path / "two.bundle"
    one.write_bytes(compile_version(key, 9, "one"))
    two.write_bytes(compile_version(key, 8, "two"))
    s = RunningServer(["--bundle", str(one), "--pub", str(pub), "--state-file", str(shared)], env=COOKIES)
    try:
        wait_for(lambda: shared.exists())
    finally:
        s.stop()
    s = RunningServer(["--bundle", str(two), "--pub", str(pub), "--state-file", str(shared)], env=COOKIES, ready=False)
    try:
        wait_for(lambda: httpx.get(s.url + "/readyz").json()["last_error"])
        assert httpx.get(s.url + "/readyz").json()["last_error"].startswith("RollbackRefused")
    finally:
        s.stop()
    r = subprocess.run([sys.executable, "-m", "runtime.cli", "serve", "--bundle", str(one), "--pub", str(pub), "--state-file", str(shared),
                        "--bundle-name", "other-site"], cwd=ROOT, capture_output=True, text=True, timeout=60, env={**COOKIES, "PATH": ""})
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"{shared} records rule set 'trailblazer', but --bundle-name is 'other-site'" in r.stderr
    assert "give --state-file with a new path" in r.stderr


# ------------------------------------------------------------------ the key: one file per source, whatever its spelling
hosts = st.sampled_from(["bundles.example.com", "cdn.example.net", "10.0.0.7"])
paths = st.sampled_from(["/site.bundle", "/staging/site.bundle", "/prod/site.bundle", "/"])


@settings(max_examples=200, deadline=None)
@given(scheme=st.sampled_from(["http", "https"]), host=hosts, port=st.sampled_from([None, 8443]), path=paths,
       other=st.tuples(st.sampled_from(["http", "https"]), hosts, st.sampled_from([None, 8443]), paths),
       user=st.sampled_from(["", "reader:secret@"]), query=st.sampled_from(["", "?token=abc", "?X-Amz-Signature=1f"]),
       fragment=st.sampled_from(["", "#v2"]), upper=st.booleans(), explicit_port=st.booleans())
def test_state_file_is_one_per_source_whatever_its_spelling(scheme, host, port, path, other, user, query, fragment, upper, explicit_port):
    """Spellings of one source (host case, an explicit default port, credentials, a query token, a
    fragment) share one state file; any other scheme, host, port or path gets another. Credentials
    never reach the file."""
    default = {"http": 80, "https": 443}[scheme]
    netloc = (host.upper() if upper else host) + (f":{port}" if port else (f":{default}" if explicit_port else ""))
    spelled = f"{scheme.upper() if upper else scheme}://{user}{netloc}{path}{query}{fragment}"
    plain = f"{scheme}://{host}{f':{port}' if port else ''}{path}"

    def state(source: str) -> Path | None:
        return path_for(Config(bundle=source, public_keys=["k"], state_dir="/var/lib/strata"))

    assert state(spelled) == state(plain) and canonical_source(spelled) == plain
    assert "secret" not in canonical_source(spelled) and "token" not in canonical_source(spelled)
    o_scheme, o_host, o_port, o_path = other
    other_url = f"{o_scheme}://{o_host}{f':{o_port}' if o_port else ''}{o_path}"
    assert (state(other_url) == state(plain)) == ((o_scheme, o_host, o_port, o_path) == (scheme, host, port, path))


def test_state_file_of_a_file_source_is_its_absolute_path(tmp_path, monkeypatch):
    """A file source: a relative and an absolute spelling share the file; another path does not;
    --state-file overrides both; development mode keeps none."""
    monkeypatch.chdir(tmp_path)

    def state(**kw: object) -> Path | None:
        return path_for(Config(public_keys=["k"], state_dir="/s", **kw))  # type: ignore[arg-type]

    assert state(bundle="site.bundle") == state(bundle=str(tmp_path / "site.bundle")) == state(bundle="./x/../site.bundle")
    assert state(bundle="site.bundle") != state(bundle="other/site.bundle")
    assert state(bundle="site.bundle", state_file="/elsewhere.json") == Path("/elsewhere.json")
    assert state(ruleset="rules.yaml") is None
