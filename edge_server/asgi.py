"""Worker entry point for ``strata serve --workers N``: uvicorn imports this module in every
worker process and calls ``app_from_env()``, which rebuilds the configuration the parent process
put into ``STRATA_SERVE_CONFIG``."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from .app import create_app
from .config import Config
from .logs import configure_logging

ENV = "STRATA_SERVE_CONFIG"


def dump(config: Config) -> str:
    d = dict(vars(config))
    d["cookie_keys"] = {k: base64.b64encode(v).decode() for k, v in config.cookie_keys.items()}
    d["dev_key"] = base64.b64encode(config.dev_key).decode() if config.dev_key else None
    return json.dumps(d)


def load(text: str) -> Config:
    d: dict[str, Any] = json.loads(text)
    d["cookie_keys"] = {k: base64.b64decode(v) for k, v in d["cookie_keys"].items()}
    d["dev_key"] = base64.b64decode(d["dev_key"]) if d.get("dev_key") else None
    return Config(**d)


def app_from_env() -> Any:
    configure_logging(os.environ.get("STRATA_LOG_LEVEL", "info"), process=True)
    return create_app(load(os.environ[ENV]))
