"""The generated adversarial bundle of the evaluation-budget tests (runtime, live server) and the
adversarial benchmark.

``runaway_bundle`` is a bundle the compiler would refuse: it compiles a rule set whose string
signal is declared 8 characters long (so its nested comprehension is cheap), then raises the
signal's bound in the signed payload, as a bundle from another compiler, or an estimate that trusted
a bound the server does not enforce, would. Only the runtime budget stands between it and a
decision that runs 16,001 x 16,001 iterations.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .. import encode
from ..pipeline import Options, run
from .fixtures import CREATED

#: Nested comprehensions over split() of the client signal q (a string of commas at run time).
RUNAWAY_CONDITION = 'q.split(",").exists(a, q.split(",").exists(b, a + b == "zz"))'

RUNAWAY = f"""\
strata: 1
name: runaway
signals:
  q: {{type: string, category: contextual, max_length: 8}}
slots:
  - id: runaway
    default: {{v: default}}
    rules:
      - {{id: nested-split, when: '{RUNAWAY_CONDITION}', content: {{v: runaway}}}}
  - id: absorbed
    default: {{v: default}}
    rules:
      - {{id: or-true, when: '{RUNAWAY_CONDITION} || q != ""', content: {{v: absorbed}}}}
  - id: plain
    default: {{v: default}}
    rules:
      - {{id: plain, when: 'q != ""', content: {{v: plain}}}}
"""

#: The bound written into the payload: q may then be 16,000 characters (a 16 KiB body holds it).
RUNAWAY_MAX_LENGTH = 16_000


def runaway_payload(created: int = CREATED) -> dict[str, Any]:
    ctx = run("runaway.yaml", Options(created=created), text=RUNAWAY)
    assert ctx.payload is not None
    payload = ctx.payload
    for s in payload["signals"]:
        if s["name"] == "q":
            s["max_length"] = RUNAWAY_MAX_LENGTH
    return payload


def runaway_bundle(key: Ed25519PrivateKey, created: int = CREATED) -> bytes:
    return encode.sign(encode.encode_payload(runaway_payload(created)), key)
