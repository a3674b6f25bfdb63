"""Validation of a rule-set document against ``rulesets/schema.json``, with errors at the
offending key or value and in words a rule author understands."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from . import errors as E
from .errors import Diagnostic
from .source import Locator

#: rulesets/schema.json, where editors find it; compiler/schema.json links to it so an installed package
#: (a wheel copies the link's target) carries it too.
SCHEMA_PATH = Path(__file__).with_name("schema.json")


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return doc


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


def _where(path: tuple[Any, ...]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "the document"


def _allowed(err: ValidationError) -> list[str]:
    props = err.schema.get("properties", {}) if isinstance(err.schema, dict) else {}
    return sorted(props)


def _leaf(err: ValidationError) -> ValidationError:
    """For anyOf/oneOf, descend to the most relevant sub-error."""
    while err.context:
        # deepest path first; among equals, an error other than "wrong type" (the branch whose
        # type matched is the one the author meant)
        err = max(err.context, key=lambda e: (len(e.absolute_path), e.validator != "type", -len(e.context or [])))
    return err


def validate(doc: Any, loc: Locator) -> list[Diagnostic]:
    if not isinstance(doc, dict):
        return [loc.diag(loc.pos(()), E.schema("a rule set must be a mapping with strata, name and slots", "start the file with 'strata: 1'"))]
    return _diagnostics(_validator().iter_errors(doc), loc)


@lru_cache(maxsize=8)
def _def_validator(name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": schema()["$defs"]})


def validate_def(doc: Any, loc: Locator, name: str, *, what: str) -> list[Diagnostic]:
    """Validate a document other than a rule set (a coefficient file) against ``$defs/<name>``."""
    if not isinstance(doc, dict):
        return [loc.diag(loc.pos(()), E.schema(f"{what} must be a mapping"))]
    return _diagnostics(_def_validator(name).iter_errors(doc), loc, quiet=True)


def _token(x: Any) -> str:
    """A value as an error message shows it from a file the rule set names: one token, cut short."""
    r = repr(x) if isinstance(x, (str, int, float, bool)) or x is None else type(x).__name__
    return r if len(r) <= 40 else r[:37] + "..."


def _diagnostics(errors: Any, loc: Locator, quiet: bool = False) -> list[Diagnostic]:
    """``quiet``: for a file the rule set names (a coefficient file), whose content may be anything:
    messages show the offending token at most, never other values of the file."""
    show = _token if quiet else repr
    out: list[Diagnostic] = []
    seen: set[tuple[tuple[Any, ...], str]] = set()
    for err in sorted(errors, key=lambda e: list(map(str, e.absolute_path))):
        if err.validator in ("anyOf", "oneOf") and err.validator == "anyOf" and err.schema.get("anyOf") == [{"required": ["segment"]}, {"required": ["when"]}]:
            path = tuple(err.absolute_path)
            out.append(loc.diag(loc.pos(path), E.schema(f"rule {_where(path)} needs a 'segment' or a 'when' condition", "add segment: <id> or when: <CEL>")))
            continue
        if err.validator in ("anyOf", "oneOf"):
            err = _leaf(err)
        path = tuple(err.absolute_path)
        where = _where(path)
        key = False
        if err.validator == "additionalProperties":
            extra = [k for k in err.instance if k not in err.schema.get("properties", {})]
            for k in extra:
                p = path + (k,)
                msg = E.schema(f"unknown field '{k}' in {where}", E.did_you_mean(k, _allowed(err)) or f"allowed: {', '.join(_allowed(err))}")
                if (p, msg[1]) not in seen:
                    seen.add((p, msg[1]))
                    out.append(loc.diag(loc.pos(p, key=True), msg))
            continue
        if err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else err.message
            parts = E.schema(f"{where} is missing the required field '{missing}'")
        elif err.validator == "enum":
            parts = E.schema(f"{where}: {show(err.instance)} is not one of {', '.join(map(repr, err.validator_value))}")
        elif err.validator == "const":
            parts = E.schema(f"{where} must be {err.validator_value!r}")
        elif err.validator == "type":
            parts = E.schema(f"{where} must be of type {err.validator_value}, not {type(err.instance).__name__}")
        elif err.validator == "pattern":
            hint = "use letters, digits, '_' and '-', starting with a letter" if "A-Za-z" in err.validator_value else (
                "use lower-case letters, digits and '_' (it is a CEL identifier)" if "[a-z_]" in err.validator_value else None)
            if err.validator_value.startswith("^[0-9]+(s|m|h|d)"):
                hint = "write a duration like 30s, 15m, 1h or 7d"
            parts = E.schema(f"{where}: {show(err.instance)} is not valid here", hint)
        elif err.validator == "propertyNames":
            parts = E.schema(f"{where}: invalid name {show(err.instance)}")
        elif quiet:  # jsonschema's own messages show the whole value (a list, a mapping)
            parts = E.schema(f"{where}: {_token(err.instance)} fails {err.validator} {err.validator_value!r}")
        else:
            parts = E.schema(f"{where}: {err.message}")
        sig = (path, parts[1])
        if sig in seen:
            continue
        seen.add(sig)
        out.append(loc.diag(loc.pos(path, key=key), parts))
    return out
