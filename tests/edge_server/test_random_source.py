"""The session's random values read in batches (edge_server/random_source.py): every value handed out
once, the right size, and a forked child never handing out what its parent holds — AES-GCM nonces
must not repeat across processes."""

from __future__ import annotations

import os
import threading

import pytest

from edge_server import random_source, session
from edge_server.random_source import BATCH, RandomSource


@pytest.mark.parametrize("size", [1, 4, 12, 16])
def test_values_have_the_size_and_never_repeat_over_batches(size: int) -> None:
    src = RandomSource(size)
    values = [src.take() for _ in range(3 * BATCH + 7)]
    assert all(type(v) is bytes and len(v) == size for v in values)
    if size >= 12:  # 96 bits or more: a repeat would be the source's fault, not chance
        assert len(set(values)) == len(values)


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="size must be positive"):
        RandomSource(0)


def test_threads_never_share_a_value() -> None:
    src = RandomSource(12)
    out: list[list[bytes]] = [[] for _ in range(4)]

    def run(i: int) -> None:
        for _ in range(2 * BATCH):
            out[i].append(src.take())

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    values = [v for part in out for v in part]
    assert len(values) == 8 * BATCH and len(set(values)) == len(values)


def _child_values(sources: list[RandomSource], n: int) -> list[bytes]:
    """Fork a real child that takes ``n`` values from each source; its values, through a pipe."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.close(r)
            os.write(w, b"".join(s.take() for s in sources for _ in range(n)))
        finally:
            os._exit(0)
    os.close(w)
    raw = b""
    while chunk := os.read(r, 65536):
        raw += chunk
    os.close(r)
    os.waitpid(pid, 0)
    out, i = [], 0
    for s in sources:
        for _ in range(n):
            out.append(raw[i:i + s.size])
            i += s.size
    return out


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_reads_its_own_values() -> None:
    """The parent has read a batch ahead; the child, forked then, must not hand out any of it (the
    values the parent hands out next), for the cookie's own sources as for a new one."""
    mine = RandomSource(12)
    mine.take()  # a batch read ahead, BATCH - 1 values left
    child = _child_values([mine], BATCH)
    parent = [mine.take() for _ in range(BATCH)]
    assert len(set(child) | set(parent)) == 2 * BATCH
    gcm: RandomSource = session._GCM_NONCE.__self__  # type: ignore[attr-defined]  # the cookie's AES-GCM nonces
    gcm.take()
    child = _child_values([gcm], 8)
    assert not set(child) & {gcm.take() for _ in range(8)}


def test_without_the_fork_hook_a_child_would_repeat_its_parents_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook is what makes the fork test pass: a source that ignores discard() repeats the parent's values."""
    src = RandomSource(12)
    src.take()
    monkeypatch.setattr(RandomSource, "discard", lambda self: None)
    child = _child_values([src], 4)
    assert child == [src.take() for _ in range(4)]
    assert random_source._SOURCES  # the sources the hook empties


def test_cookie_nonces_differ_per_seal() -> None:
    """Two cookies sealed for the same session differ in their nonce (the first 12 bytes after the head)."""
    codec = session.CookieCodec({"k1": b"\x01" * 32}, "strata")
    s = session.Session.fresh()
    values = {codec.encode(s) for _ in range(2 * BATCH)}
    assert len(values) == 2 * BATCH


def test_a_replaced_urandom_is_called_per_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """While os.urandom is replaced (the vector generators fix their nonces so), every value is one call
    of the replacement with the value's size, whatever was read ahead; then batches resume."""
    src = RandomSource(12)
    src.take()
    calls: list[int] = []

    def replaced(n: int) -> bytes:
        calls.append(n)
        return bytes([len(calls)]) * n

    monkeypatch.setattr(os, "urandom", replaced)
    assert [src.take() for _ in range(3)] == [b"\x01" * 12, b"\x02" * 12, b"\x03" * 12]
    assert calls == [12, 12, 12]
    monkeypatch.undo()
    assert len({src.take() for _ in range(BATCH)}) == BATCH
