"""The rollback state file: the rule set a server serves and the highest version it has loaded,
kept in ``--state-dir`` so that a restarted server refuses an older bundle too (docs/deployment.md).

One small JSON file per bundle source, ``bundle-state-<source id>.json``:
``{"name": "trailblazer", "version": 1793491200, "source": "https://bundles.example.com/site.bundle"}``.
The source id is the first 16 hex digits of the SHA-256 of the canonical source (``canonical_source``:
an absolute path, or a URL without credentials, query or fragment), so servers started from
different sources on one host never share a floor (staging v5 and production v6, or rule set A
once and rule set B now), and a restarted server of the same source finds its own. ``--state-file``
names the file instead: to share one floor between sources on purpose, or to start afresh.

Writes go to a temporary file that is renamed over the old one (a crash leaves the old or the new
file, never half of one), under a lock file so that the workers of ``--workers N`` never lower the
version another worker wrote. A file that exists but cannot be read or parsed stops the server at
start with the path and what to do: ignoring it would silently drop the protection.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .config import Config, ConfigError, is_url

log = logging.getLogger("strata.state")

PREFIX = "bundle-state-"
#: The one file per state directory of earlier versions, shared by every source: read by no one now.
LEGACY_FILE = "bundle-state.json"
#: The flag that points a server at another state file (named in every error about the state).
FLAG = "--state-file"
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class BundleState:
    name: str
    version: int


def canonical_source(source: str) -> str:
    """The bundle source as its state is keyed: a URL with scheme and host in lower case, no default
    port, no credentials, query or fragment (a rotating token in the query must not reset the
    floor); a file as its absolute path (symlinks not resolved: a release directory swapped under
    a symlink is the same source). The same rule as edge_worker/worker/state.js's canonicalSource."""
    if is_url(source):
        u = urlsplit(source)
        scheme = u.scheme.lower()
        host = (u.hostname or "").lower()
        if ":" in host:
            host = f"[{host}]"
        port = f":{u.port}" if u.port is not None and u.port != _DEFAULT_PORTS.get(scheme) else ""
        return f"{scheme}://{host}{port}{u.path or '/'}"
    return os.path.abspath(source)


def source_id(source: str) -> str:
    """The first 16 hex digits of the SHA-256 of the canonical source."""
    return hashlib.sha256(canonical_source(source).encode("utf-8")).hexdigest()[:16]


def path_for(config: Config) -> Path | None:
    """The state file of a production server: ``--state-file``, else the one of its source in
    ``--state-dir``; None without either (or in development)."""
    if config.ruleset or not config.bundle:
        return None
    if config.state_file:
        return Path(config.state_file)
    if not config.state_dir:
        return None
    return Path(config.state_dir) / f"{PREFIX}{source_id(config.bundle)}.json"


def at_start(config: Config, warn: bool = True) -> BundleState | None:
    """What a starting production server must respect: the recorded state (None without a state
    file or a record). ConfigError when the directory is unusable, the file unreadable, or it
    records another rule set than ``--bundle-name``. ``warn``: log a legacy state file left unread."""
    path = path_for(config)
    if path is None:
        return None
    prepare_dir(str(path.parent), "--state-file" if config.state_file else "--state-dir")
    recorded = read(path)
    if recorded is not None and config.bundle_name is not None and recorded.name != config.bundle_name:
        whose = "" if config.state_file else " from this source"
        raise ConfigError(f"{path} records rule set {recorded.name!r}{whose}, but --bundle-name is {config.bundle_name!r}: "
                          f"if {canonical_source(config.bundle or '')} now serves {config.bundle_name!r}, give {FLAG} with a new path "
                          "(or delete that file); otherwise correct --bundle-name")
    legacy = path.parent / LEGACY_FILE
    if warn and recorded is None and not config.state_file and legacy.exists():
        log.warning("%s (shared by every source, from an earlier version of strata) is not read: each source now has its own "
                    "state file, this one's is %s; to keep the floor the old file records for this server, copy it there "
                    "(or give %s %s)", legacy, path, FLAG, legacy)
    return recorded


def prepare_dir(state_dir: str, flag: str = "--state-dir") -> Path:
    """Create the state directory (mode 0700) if needed and check that it is writable."""
    d = Path(state_dir)
    try:
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{flag} {state_dir}: cannot create it ({e.strerror}); give a writable directory (STRATA_STATE_DIR)") from None
    if not os.access(d, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {state_dir}: not writable by this user; give a writable directory (STRATA_STATE_DIR)")
    return d


def read(path: Path) -> BundleState | None:
    """The recorded state, None when there is none yet; ConfigError when it is unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the rollback state ({getattr(e, 'strerror', None) or e}); fix its permissions") from None
    try:
        d = json.loads(text)
        name, version = d["name"], d["version"]
        if not isinstance(name, str) or not name or type(version) is not int:
            raise ValueError("name must be a non-empty string and version an integer")
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{path}: the rollback state file is corrupt ({type(e).__name__}: {e}); it should hold "
                          '{"name": ..., "version": ...}. Restore it, or delete it to accept any version once (and lose rollback '
                          "protection across this restart)") from None
    return BundleState(name, version)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def record(path: Path, name: str, version: int, source: str | None = None) -> BundleState:
    """Record ``version`` of ``name`` unless a higher one is recorded; return what is recorded.
    ``source``: kept beside them for whoever reads the file. Raises OSError when it cannot be written."""
    with _locked(path):
        try:
            cur = read(path)
        except ConfigError:
            cur = None  # replaced by a good file below
        if cur is not None and cur.name == name and cur.version >= version:
            return cur
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        entry: dict[str, object] = {"name": name, "version": version}
        if source is not None:
            entry["source"] = canonical_source(source)
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())  # the rename must not land before the data (a power cut would leave an empty file)
        os.replace(tmp, path)
        return BundleState(name, version)
