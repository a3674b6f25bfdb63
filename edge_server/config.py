"""Server configuration: one dataclass, filled from ``strata serve`` flags and ``STRATA_*``
environment variables (flags win). docs/server.md lists every setting."""

from __future__ import annotations

import base64
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from runtime.format import CLIENT_BODY_BYTES


class ConfigError(ValueError):
    pass


def is_url(source: str) -> bool:
    """A bundle or rule-set source fetched over HTTP(S), rather than a file."""
    return source[:8].lower().startswith(("http://", "https://"))


_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an RFC 6265 token
_BUNDLE_NAME = re.compile(r"\S(?:.{0,198}\S)?")


def default_state_dir() -> str:
    """Where ``strata serve --bundle`` keeps its rollback state unless --state-dir says otherwise:
    systemd's ``$STATE_DIRECTORY`` (``StateDirectory=strata``), else ``$XDG_STATE_HOME/strata``,
    else ``~/.local/state/strata``."""
    if os.environ.get("STATE_DIRECTORY"):
        return os.environ["STATE_DIRECTORY"].split(":")[0]
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "strata")


_ORIGIN = re.compile(r"https?://[^/?#\s@]+")  # scheme://host[:port], as a browser's Origin header writes it


def normalise_origin(origin: str) -> str:
    """An origin as compared with a request's ``Origin`` header: lower case, no trailing slash."""
    return origin.strip().lower().rstrip("/")


@dataclass
class Config:
    # bundle source: exactly one of bundle (file path or http(s) URL) and ruleset (dev mode)
    bundle: str | None = None
    ruleset: str | None = None
    public_keys: list[str] = field(default_factory=list)
    clock_skew: float = 300.0
    poll_interval: float = 10.0  # seconds between checks of the bundle source
    poll_jitter: float = 0.2  # +/- fraction of the interval, so replicas do not poll in step
    # rollback protection (docs/deployment.md): the one rule set served (None: the first bundle
    # loaded pins it), and where the highest version seen is kept across restarts (None: nowhere;
    # `strata serve` defaults to default_state_dir() with --bundle)
    bundle_name: str | None = None
    state_dir: str | None = None
    # the state file itself (None: bundle-state-<source id>.json in state_dir, one per source; edge_server/state.py)
    state_file: str | None = None

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1

    pages: str | None = None  # directory of HTML pages to personalise (page mode)
    origin: str | None = None  # or an origin to fetch HTML from
    debug: bool = False  # explain traces and the debug overlay

    # session cookie
    cookie_name: str = "strata_session"
    cookie_keys: dict[str, bytes] = field(default_factory=dict, repr=False)  # key id -> AES key; the first encrypts
    cookie_secure: bool = True
    cookie_max_age: int = 180 * 86400
    visit_timeout: int = 30 * 60  # inactivity after which a request starts a new visit

    # consent
    consent_cookie: str = "strata_consent"  # value "0"/"no"/"false"/"deny" means no
    honour_gpc: bool = True
    honour_dnt: bool = True

    country_header: str = "CF-IPCountry"
    timezone: str = "UTC"

    max_body_bytes: int = CLIENT_BODY_BYTES
    max_client_signals: int = 32
    origin_timeout: float = 5.0
    stats_token: str | None = field(default=None, repr=False)
    #: bearer token of server-side OFREP callers: only their targetingKey names the session (docs/openfeature.md)
    ofrep_token: str | None = field(default=None, repr=False)
    log_requests: bool = True

    # POST /v1/events (docs/measurement.md)
    max_goal_value: float = 1_000_000.0  # a larger goal value is refused (422 value_too_large)
    events_origins: list[str] = field(default_factory=list)  # browser origins besides the server's own allowed to send events
    metrics_dir: str | None = None  # set by --workers: where workers share their counters
    instance_id: str | None = None  # set by --workers: the run's identity on /metrics, shared by its workers (metrics.py)
    # aggregated mode of fleet counting (counter_batches.py): the secret the fleet signs counter batches with
    counters_secret: str | None = field(default=None, repr=False)
    counters_window: float = 3600.0  # seconds a batch id is remembered (older batches are refused)
    # conversions once per visit across the fleet (fleet_ledger.py): the replicas holding the fleet's claims
    fleet_ledger: list[str] = field(default_factory=list)
    dev_key: bytes | None = field(default=None, repr=False)  # set by --workers in development: one throw-away signing key (raw Ed25519) for all

    def validate(self) -> None:
        if bool(self.bundle) == bool(self.ruleset):
            raise ConfigError("give either a rule-set file (development: strata serve rulesets/site.yaml) or --bundle PATH_OR_URL with --pub KEY")
        if self.ruleset and not is_url(self.ruleset) and not Path(self.ruleset).is_file():
            raise ConfigError(f"{self.ruleset}: no such rule-set file (development mode compiles a YAML rule set, e.g. rulesets/trailblazer.yaml)")
        if self.bundle_name is not None and not _BUNDLE_NAME.fullmatch(self.bundle_name):
            raise ConfigError(f"--bundle-name {self.bundle_name[:40]!r}: give the rule set's name as its bundle carries it (the name: field of the rule set)")
        if self.bundle and not self.public_keys:
            raise ConfigError("--bundle needs at least one trusted public key: --pub keys/site.pub")
        if self.pages and self.origin:
            raise ConfigError("--pages and --origin are exclusive: serve local pages or proxy an origin")
        if self.pages and not Path(self.pages).is_dir():
            raise ConfigError(f"--pages {self.pages}: not a directory")
        for kid, key in self.cookie_keys.items():
            if len(key) not in (16, 24, 32):
                raise ConfigError(f"cookie key {kid!r} must be 16, 24 or 32 bytes (base64), got {len(key)}")
        if self.poll_interval <= 0:
            raise ConfigError("--poll-interval must be positive")
        if not 1 <= self.workers <= 64:
            raise ConfigError("--workers must be between 1 and 64")
        for flag, name in (("--cookie-name", self.cookie_name), ("--consent-cookie", self.consent_cookie)):
            if not _COOKIE_NAME.fullmatch(name):
                raise ConfigError(f"{flag} {name!r}: a cookie name is letters, digits and !#$%&'*+-.^_`|~ (RFC 6265), e.g. strata_session")
        if not (math.isfinite(self.max_goal_value) and self.max_goal_value > 0):
            raise ConfigError(f"--max-goal-value {self.max_goal_value!r}: give a positive number, e.g. 1000000 (the largest purchase value you expect)")
        for origin in self.events_origins:
            if not _ORIGIN.fullmatch(normalise_origin(origin)):
                raise ConfigError(f"--events-origin {origin!r}: write an origin as a browser sends it, scheme://host[:port] with no path, "
                                  "e.g. https://www.example.com")
        if self.counters_secret is not None:
            if len(self.counters_secret) < 16:
                raise ConfigError("--counters-secret: at least 16 characters (e.g. openssl rand -hex 32), the same as the workers' STRATA_COUNTERS_SECRET")
            if not self.state_dir:
                raise ConfigError("--counters-secret needs --state-dir: a pushed batch is acknowledged once it is durable there")
        if not (math.isfinite(self.counters_window) and 60 <= self.counters_window <= 7 * 86400):
            raise ConfigError(f"--counters-window {self.counters_window!r}: give the seconds batch ids are remembered, 60 to 604800 (default 3600)")
        if self.fleet_ledger:
            self.check_fleet_ledger()
        if self.cookie_name == self.consent_cookie:
            raise ConfigError(f"--cookie-name and --consent-cookie are both {self.cookie_name!r}: the session and the consent answer need two cookies")


    def check_fleet_ledger(self) -> None:
        """--fleet-ledger: replica URLs, the secret that signs claims, and one process per replica that takes them."""
        from .fleet_ledger import ledger_urls, own_url

        try:
            self.fleet_ledger = list(ledger_urls(self.fleet_ledger))
        except ValueError as e:
            raise ConfigError(f"--fleet-ledger: {e}") from None
        if not self.counters_secret:
            raise ConfigError("--fleet-ledger needs --counters-secret (STRATA_COUNTERS_SECRET): the fleet signs its claims with it")
        if self.workers > 1 and own_url(self.fleet_ledger, self.host, self.port) is not None:
            raise ConfigError(f"--fleet-ledger names this server ({own_url(self.fleet_ledger, self.host, self.port)}), so it takes claims: "
                              "run it with --workers 1 (the claims of a visit must meet one process), or leave it out of the list")


def parse_cookie_keys(spec: str) -> dict[str, bytes]:
    """``kid1:BASE64,kid2:BASE64`` -> ordered {kid: key}; the first key encrypts, all decrypt."""
    out: dict[str, bytes] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        kid, sep, b64 = part.partition(":")
        if not sep or not kid:
            raise ConfigError(f"cookie key {part[:12]!r}...: write KEY_ID:BASE64")
        try:
            out[kid] = base64.b64decode(b64, validate=True)
        except ValueError:
            raise ConfigError(f"cookie key {kid!r}: not valid base64") from None
    return out


_BOOL = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


#: Every STRATA_* variable: Config field and how its text is read (docs/server.md lists each).
ENV: dict[str, tuple[str, str]] = {
    "STRATA_BUNDLE": ("bundle", "text"), "STRATA_PAGES": ("pages", "text"), "STRATA_ORIGIN": ("origin", "text"),
    "STRATA_HOST": ("host", "text"), "STRATA_PORT": ("port", "int"), "STRATA_WORKERS": ("workers", "int"),
    "STRATA_PUB": ("public_keys", "list"), "STRATA_COOKIE_KEYS": ("cookie_keys", "cookie_keys"),
    "STRATA_COOKIE_NAME": ("cookie_name", "text"), "STRATA_CONSENT_COOKIE": ("consent_cookie", "text"),
    "STRATA_COOKIE_SECURE": ("cookie_secure", "bool"), "STRATA_DEBUG": ("debug", "bool"),
    "STRATA_COUNTRY_HEADER": ("country_header", "text"), "STRATA_TIMEZONE": ("timezone", "text"),
    "STRATA_STATS_TOKEN": ("stats_token", "text"), "STRATA_OFREP_TOKEN": ("ofrep_token", "text"), "STRATA_MAX_BODY": ("max_body_bytes", "int"),
    "STRATA_POLL_INTERVAL": ("poll_interval", "float"), "STRATA_POLL_JITTER": ("poll_jitter", "float"),
    "STRATA_CLOCK_SKEW": ("clock_skew", "float"), "STRATA_VISIT_TIMEOUT": ("visit_timeout", "int"),
    "STRATA_BUNDLE_NAME": ("bundle_name", "text"), "STRATA_STATE_DIR": ("state_dir", "text"),
    "STRATA_STATE_FILE": ("state_file", "text"),
    "STRATA_MAX_GOAL_VALUE": ("max_goal_value", "float"), "STRATA_COUNTERS_SECRET": ("counters_secret", "text"),
    "STRATA_COUNTERS_WINDOW": ("counters_window", "float"), "STRATA_EVENTS_ORIGINS": ("events_origins", "list"),
    "STRATA_FLEET_LEDGER": ("fleet_ledger", "list"),
}


def from_env(env: dict[str, str] | None = None) -> dict[str, object]:
    """Settings from STRATA_* variables, as keyword arguments for Config (unset or empty: default)."""
    env = dict(os.environ if env is None else env)
    out: dict[str, object] = {}
    for var, (name, kind) in ENV.items():
        value = env.get(var)
        if not value:
            continue
        if kind == "text":
            out[name] = value
        elif kind in ("int", "float"):
            try:
                out[name] = int(value) if kind == "int" else float(value)
            except ValueError:
                raise ConfigError(f"{var}={value!r} is not {'a whole number' if kind == 'int' else 'a number'}") from None
        elif kind == "bool":
            b = _BOOL.get(value.lower())
            if b is None:
                raise ConfigError(f"{var}={value!r}: use 1/0, true/false, yes/no")
            out[name] = b
        elif kind == "list":
            out[name] = [p for p in value.split(",") if p]
        else:
            out[name] = parse_cookie_keys(value)
    return out
