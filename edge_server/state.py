"""The rollback state file: the rule set a server serves and the highest version it has loaded,
kept in ``--state-dir`` so that a restarted server refuses an older bundle too (docs/deployment.md).

One small JSON file, ``bundle-state.json``: ``{"name": "trailblazer", "version": 1793491200}``.
Writes go to a temporary file that is renamed over the old one (a crash leaves the old or the new
file, never half of one), under a lock file so that the workers of ``--workers N`` never lower the
version another worker wrote. A file that exists but cannot be read or parsed stops the server at
start with the path and what to do: ignoring it would silently drop the protection.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .config import Config, ConfigError

FILE = "bundle-state.json"
_LOCK = "bundle-state.lock"


@dataclass(frozen=True)
class BundleState:
    name: str
    version: int


def at_start(config: Config) -> BundleState | None:
    """What a starting production server must respect: the recorded state (None without a state
    directory or a record). ConfigError when the directory is unusable, the file unreadable, or it
    records another rule set than ``--bundle-name``."""
    if config.ruleset or not config.state_dir:
        return None
    prepare_dir(config.state_dir)
    recorded = read(config.state_dir)
    if recorded is not None and config.bundle_name is not None and recorded.name != config.bundle_name:
        raise ConfigError(f"{Path(config.state_dir) / FILE} records rule set {recorded.name!r}, but --bundle-name is {config.bundle_name!r}: "
                          "give each rule set its own --state-dir, or delete the file if the site was renamed")
    return recorded


def prepare_dir(state_dir: str) -> Path:
    """Create the state directory (mode 0700) if needed and check that it is writable."""
    d = Path(state_dir)
    try:
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--state-dir {state_dir}: cannot create it ({e.strerror}); give a writable directory (STRATA_STATE_DIR)") from None
    if not os.access(d, os.W_OK | os.X_OK):
        raise ConfigError(f"--state-dir {state_dir}: not writable by this user; give a writable directory (STRATA_STATE_DIR)")
    return d


def read(state_dir: str) -> BundleState | None:
    """The recorded state, None when there is none yet; ConfigError when it is unreadable."""
    path = Path(state_dir) / FILE
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
def _locked(d: Path) -> Iterator[None]:
    with open(d / _LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def record(state_dir: str, name: str, version: int) -> BundleState:
    """Record ``version`` of ``name`` unless a higher one is recorded; return what is recorded.
    Raises OSError when the directory cannot be written."""
    d = Path(state_dir)
    with _locked(d):
        try:
            cur = read(state_dir)
        except ConfigError:
            cur = None  # replaced by a good file below
        if cur is not None and cur.name == name and cur.version >= version:
            return cur
        tmp = d / f".{FILE}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps({"name": name, "version": version}) + "\n")
            f.flush()
            os.fsync(f.fileno())  # the rename must not land before the data (a power cut would leave an empty file)
        os.replace(tmp, d / FILE)
        return BundleState(name, version)
