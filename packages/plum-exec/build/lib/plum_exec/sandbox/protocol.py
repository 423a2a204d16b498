"""Framing between the pool and its workers: 4-byte big-endian length, then the payload."""

from __future__ import annotations

import struct
from typing import BinaryIO


def read_message(stream: BinaryIO) -> bytes | None:
    """One message, or None at end of stream (the other side is gone)."""
    header = stream.read(4)
    if len(header) < 4:
        return None
    (size,) = struct.unpack(">I", header)
    data = stream.read(size)
    return data if len(data) == size else None


def write_message(stream: BinaryIO, payload: bytes) -> None:
    stream.write(struct.pack(">I", len(payload)) + payload)
    stream.flush()
