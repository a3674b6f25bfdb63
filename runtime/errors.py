"""Why a bundle was refused. One type per step of verification, each with an actionable message.

All derive from ``BundleError``, so a caller that only needs "keep the last good bundle" catches
that one type; a caller that wants to alert differently on an expired bundle than on a forged one
catches the specific type. The steps, in order, are in ``verify.py``.
"""

from __future__ import annotations


class BundleError(Exception):
    """A bundle was refused. The message says what to do about it."""

    code = "bundle_error"


class BundleTooLarge(BundleError):
    code = "too_large"


class MalformedBundle(BundleError):
    """Not a Strata bundle: truncated, not msgpack, missing fields, or a payload of the wrong shape."""

    code = "malformed"


class UnsupportedFormat(BundleError):
    code = "unsupported_format"


class UnknownKey(BundleError):
    """Signed by a key this runtime does not trust."""

    code = "unknown_key"


class BadSignature(BundleError):
    """The signature does not match the payload: the bundle was altered or signed by another key."""

    code = "bad_signature"


class NotYetValid(BundleError):
    code = "not_yet_valid"


class Expired(BundleError):
    code = "expired"


class RollbackRefused(BundleError):
    """An older version of the rule set than the one already held."""

    code = "rollback"


class WrongName(BundleError):
    """A bundle of another rule set than the one this runtime serves (pinned by configuration or by
    the first bundle loaded): replacing a site's content with another rule set signed by the same
    key would side-step rollback protection."""

    code = "wrong_name"


class PrepareFailed(BundleError):
    """Verified and validated, but preparing it failed (a case validation does not catch). The
    message names the exception; the last good bundle keeps serving."""

    code = "prepare_failed"


class InvalidIR(MalformedBundle):
    """Correctly signed, but the payload breaks the IR contract (a buggy or newer compiler)."""

    code = "invalid_ir"


def refusal(e: BaseException) -> str:
    """How a refused bundle is reported (``/readyz``'s ``last_error``, the log): the error's type,
    its code for a :class:`BundleError`, and its message. runtime/errors.js's ``refusal`` writes the
    same text, with names that survive minification."""
    code = f" ({e.code})" if isinstance(e, BundleError) else ""
    return f"{type(e).__name__}{code}: {e}"
