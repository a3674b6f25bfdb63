"""Reading a JSON request body from ASGI ``receive`` under a size limit."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import Receive

from .errors import ApiError
from .json_syntax import json_problem


async def read_json(h: dict[str, str], receive: Receive, limit: int) -> Any:
    """The parsed body ({} when empty). 413 over ``limit`` bytes (announced or streamed), 400 for a
    bad Content-Length, or a body that is not JSON (json_syntax.py says what and where, as the
    worker does). ``h``: the request headers."""
    return parse_json(await read_body(h, receive, limit))


async def read_body(h: dict[str, str], receive: Receive, limit: int) -> bytes:
    """The body's bytes: read_json's reading and its refusals (413, 400), without parsing."""
    cl = h.get("content-length")
    if cl is not None:
        if not cl.isdigit():
            raise ApiError(400, "bad_request", "Content-Length is not a number")
        if int(cl) > limit:
            raise ApiError(413, "too_large", f"request body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect: nobody is left to answer
            raise ApiError(400, "client_disconnected", "the client went away before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too_large", f"request body over {limit} bytes")
        if not message.get("more_body", False):
            return b"".join([*chunks, chunk]) if chunks else chunk
        chunks.append(chunk)


def parse_json(raw: bytes) -> Any:
    """read_json's parsing: {} for an empty body, else the JSON value, or 400 ``invalid_json``."""
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)  # accepts exactly what json_syntax accepts (tests/edge_server/test_json_syntax.py)
    except orjson.JSONDecodeError as e:
        problem = json_problem(raw) or f"{e.msg} at character {e.pos}"  # the latter would be a bug in json_syntax
        raise ApiError(400, "invalid_json", f"request body is not JSON (UTF-8): {problem}") from None
