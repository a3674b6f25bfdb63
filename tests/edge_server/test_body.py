"""Reading a decide/events body from ASGI receive: streamed bodies, limits, disconnects."""

from __future__ import annotations

import asyncio

import pytest

from edge_server.body import read_json
from edge_server.errors import ApiError


def read(messages, headers=None, limit=100):
    it = iter(messages)

    async def receive():
        return next(it)

    return asyncio.run(read_json(headers or {}, receive, limit))


def test_body_streamed_in_chunks_is_joined():
    msgs = [{"type": "http.request", "body": b'{"a":', "more_body": True}, {"type": "http.request", "body": b' [1, 2]}', "more_body": False}]
    assert read(msgs) == {"a": [1, 2]}


def test_body_empty_is_an_empty_object():
    assert read([{"type": "http.request", "body": b"  ", "more_body": False}]) == {}


@pytest.mark.parametrize("msgs,headers,code", [
    ([{"type": "http.request", "body": b"x" * 60, "more_body": True}, {"type": "http.request", "body": b"x" * 60}], {}, "too_large"),
    ([], {"content-length": "101"}, "too_large"),
    ([], {"content-length": "1e3"}, "bad_request"),
    ([{"type": "http.disconnect"}], {}, "client_disconnected"),
    ([{"type": "http.request", "body": b"\xff{}"}], {}, "invalid_json"),
])
def test_body_refusals(msgs, headers, code):
    with pytest.raises(ApiError) as e:
        read(msgs, headers)
    assert e.value.code == code and 400 <= e.value.status < 500
