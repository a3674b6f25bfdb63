"""Strata compiler: YAML rule sets with CEL conditions -> signed, compact bundles.

Stages are listed in ``pipeline.py``; ``cli.py`` is the ``strata`` command.
"""

from __future__ import annotations

__version__ = "0.1.0"
