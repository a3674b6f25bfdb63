"""Bound what a msgpack document will cost *before* it is unpacked.

msgpack's C unpacker allocates a container as soon as it reads its header: an array header
claiming 60 million items costs 480 MB before a single item is read, and a few nested headers
behind a 3 KB xz stream exhaust memory. ``check_bounds`` walks the bytes once without building
anything and refuses a document whose nesting, claimed lengths, object count or string sizes pass
the limits, so ``msgpack.unpackb`` only ever runs on a document whose Python form is bounded.

Worked example::

    >>> check_bounds(b"\\x92\\x01\\xa1a", max_objects=10, max_depth=4, max_str=8)
    3
    >>> check_bounds(b"\\xdd\\x7f\\xff\\xff\\xff", max_objects=10, max_depth=4, max_str=8)
    Traceback (most recent call last):
    ...
    runtime.bounds.BoundsExceeded: an array claims 2147483647 items with 0 bytes left
"""

from __future__ import annotations


class BoundsExceeded(ValueError):
    """The document would pass a limit (or is not well-formed msgpack)."""


# Per first byte: (kind, size). Kinds: 0 scalar of fixed total size; 1 str/bin whose length
# follows in ``size`` bytes; 2 ext (length in ``size`` bytes, plus a type byte); 3 array with the
# count in ``size`` bytes; 4 map with the count in ``size`` bytes; 5 fixstr; 6 fixarray;
# 7 fixmap; 8 invalid.
def _table() -> list[tuple[int, int]]:
    t: list[tuple[int, int]] = [(8, 0)] * 256
    for b in range(0x00, 0x80):
        t[b] = (0, 1)
    for b in range(0xE0, 0x100):
        t[b] = (0, 1)
    for b in range(0x80, 0x90):
        t[b] = (7, 0)
    for b in range(0x90, 0xA0):
        t[b] = (6, 0)
    for b in range(0xA0, 0xC0):
        t[b] = (5, 0)
    t[0xC0] = t[0xC2] = t[0xC3] = (0, 1)
    t[0xC4], t[0xC5], t[0xC6] = (1, 1), (1, 2), (1, 4)  # bin 8/16/32
    t[0xC7], t[0xC8], t[0xC9] = (2, 1), (2, 2), (2, 4)  # ext 8/16/32
    t[0xCA], t[0xCB] = (0, 5), (0, 9)  # float 32/64
    t[0xCC], t[0xCD], t[0xCE], t[0xCF] = (0, 2), (0, 3), (0, 5), (0, 9)  # uint 8..64
    t[0xD0], t[0xD1], t[0xD2], t[0xD3] = (0, 2), (0, 3), (0, 5), (0, 9)  # int 8..64
    t[0xD4], t[0xD5], t[0xD6], t[0xD7], t[0xD8] = (2, -1), (2, -2), (2, -4), (2, -8), (2, -16)  # fixext
    t[0xD9], t[0xDA], t[0xDB] = (1, 1), (1, 2), (1, 4)  # str 8/16/32
    t[0xDC], t[0xDD] = (3, 2), (3, 4)  # array 16/32
    t[0xDE], t[0xDF] = (4, 2), (4, 4)  # map 16/32
    return t


_TABLE = _table()


def check_bounds(data: bytes, *, max_objects: int, max_depth: int, max_str: int, allow_ext: bool = False) -> int:
    """Walk one msgpack document in ``data``; return its object count, or raise ``BoundsExceeded``.

    Counts every object (a map entry is two), counting a container's claimed items when its header
    is read, so nothing the unpacker would preallocate escapes the count. A claimed length longer
    than the bytes left is refused at once (each item needs at least one byte).
    """
    n = len(data)
    table = _TABLE
    i = 0
    objects = 1
    remaining = [1]  # items still to read at each open container (index 0: the document)
    while remaining:
        if remaining[-1] == 0:
            remaining.pop()
            continue
        remaining[-1] -= 1
        if i >= n:
            raise BoundsExceeded("document is truncated")
        b = data[i]
        kind, size = table[b]
        if kind == 0:
            i += size
            continue
        if kind == 5:
            length = b & 0x1F
            i += 1 + length
            continue
        if kind == 6 or kind == 7:
            count = b & 0x0F
            i += 1
        elif kind == 8:
            raise BoundsExceeded(f"byte 0x{b:02x} at offset {i} starts no msgpack object")
        elif size < 0:  # fixext
            if not allow_ext:
                raise BoundsExceeded("extension types are not used in Strata bundles")
            i += 2 - size
            continue
        else:
            count = int.from_bytes(data[i + 1 : i + 1 + size], "big")
            i += 1 + size
            if kind == 1 or kind == 2:
                if kind == 2:
                    if not allow_ext:
                        raise BoundsExceeded("extension types are not used in Strata bundles")
                    i += 1
                if count > max_str:
                    raise BoundsExceeded(f"a string of {count} bytes is over the {max_str}-byte limit")
                i += count
                continue
        # a container: kinds 3/6 array, 4/7 map
        items = count * 2 if kind in (4, 7) else count
        if items > n - i:
            raise BoundsExceeded(f"{'a map' if kind in (4, 7) else 'an array'} claims {count} items with {n - i} bytes left")
        objects += items
        if objects > max_objects:
            raise BoundsExceeded(f"more than {max_objects} objects")
        if items:
            if len(remaining) > max_depth:
                raise BoundsExceeded(f"nested deeper than {max_depth}")
            remaining.append(items)
    if i > n:
        raise BoundsExceeded("document is truncated")
    if i != n:
        raise BoundsExceeded(f"{n - i} bytes of trailing data")
    return objects
