"""Server configuration: one dataclass, filled from ``strata serve`` flags and ``STRATA_*``
environment variables (flags win). docs/server.md lists every setting."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(ValueError):
    pass


@dataclass
class Config:
    # bundle source: exactly one of bundle (file path or http(s) URL) and ruleset (dev mode)
    bundle: str | None = None
    ruleset: str | None = None
    public_keys: list[str] = field(default_factory=list)
    clock_skew: float = 300.0
    poll_interval: float = 10.0  # seconds between checks of the bundle source
    poll_jitter: float = 0.2  # +/- fraction of the interval, so replicas do not poll in step

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1

    pages: str | None = None  # directory of HTML pages to personalise (page mode)
    origin: str | None = None  # or an origin to fetch HTML from
    debug: bool = False  # explain traces and the debug overlay

    # session cookie
    cookie_name: str = "strata_session"
    cookie_keys: dict[str, bytes] = field(default_factory=dict)  # key id -> 32-byte AES key; first signs
    cookie_secure: bool = True
    cookie_max_age: int = 180 * 86400
    visit_timeout: int = 30 * 60  # inactivity after which a request starts a new visit

    # consent
    consent_cookie: str = "strata_consent"  # value "0"/"no"/"false"/"deny" means no
    honour_gpc: bool = True
    honour_dnt: bool = True

    country_header: str = "CF-IPCountry"
    timezone: str = "UTC"

    max_body_bytes: int = 16 * 1024
    max_client_signals: int = 32
    origin_timeout: float = 5.0
    stats_token: str | None = None
    log_requests: bool = True
    metrics_dir: str | None = None  # set by --workers: where workers share their counters

    def validate(self) -> None:
        if bool(self.bundle) == bool(self.ruleset):
            raise ConfigError("give either a rule-set file (development: strata serve rulesets/site.yaml) or --bundle PATH_OR_URL with --pub KEY")
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


def from_env(env: dict[str, str] | None = None) -> dict[str, object]:
    """Settings from STRATA_* variables, as keyword arguments for Config."""
    env = dict(os.environ if env is None else env)
    out: dict[str, object] = {}
    text = {
        "STRATA_BUNDLE": "bundle", "STRATA_PAGES": "pages", "STRATA_ORIGIN": "origin", "STRATA_HOST": "host",
        "STRATA_COOKIE_NAME": "cookie_name", "STRATA_CONSENT_COOKIE": "consent_cookie",
        "STRATA_COUNTRY_HEADER": "country_header", "STRATA_TIMEZONE": "timezone", "STRATA_STATS_TOKEN": "stats_token",
    }
    for var, name in text.items():
        if env.get(var):
            out[name] = env[var]
    numbers = {
        "STRATA_PORT": ("port", int), "STRATA_WORKERS": ("workers", int), "STRATA_POLL_INTERVAL": ("poll_interval", float),
        "STRATA_CLOCK_SKEW": ("clock_skew", float), "STRATA_MAX_BODY": ("max_body_bytes", int),
        "STRATA_VISIT_TIMEOUT": ("visit_timeout", int), "STRATA_POLL_JITTER": ("poll_jitter", float),
    }
    for var, (name, conv) in numbers.items():
        if env.get(var):
            try:
                out[name] = conv(env[var])
            except ValueError:
                raise ConfigError(f"{var}={env[var]!r} is not a number") from None
    for var, name in {"STRATA_DEBUG": "debug", "STRATA_COOKIE_SECURE": "cookie_secure"}.items():
        if env.get(var):
            v = _BOOL.get(env[var].lower())
            if v is None:
                raise ConfigError(f"{var}={env[var]!r}: use 1/0, true/false, yes/no")
            out[name] = v
    if env.get("STRATA_PUB"):
        out["public_keys"] = [p for p in env["STRATA_PUB"].split(",") if p]
    if env.get("STRATA_COOKIE_KEYS"):
        out["cookie_keys"] = parse_cookie_keys(env["STRATA_COOKIE_KEYS"])
    return out
