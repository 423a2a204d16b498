"""Framing: 4-byte big-endian length, then the payload.

Between the pool and its workers (buffered streams), and between the judge and the program's
process (raw pipe ends, ``FrameReader``/``write_frame``). The judge reads with deadlines: the
other end runs candidate code and may stall, flood or write garbage.
"""

from __future__ import annotations

import os
import select
import struct
import time
from typing import BinaryIO

FRAME_LIMIT = 64 * 1024 * 1024  # a larger frame is garbage, not a message


class FrameError(Exception):
    """The other end broke the framing (oversized or truncated frame)."""


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


def write_frame(fd: int, payload: bytes, deadline: float | None = None) -> None:
    """Write one frame to a pipe; with a deadline the fd must be non-blocking (TimeoutError
    when the reader does not take it in time). BrokenPipeError when the reader is gone."""
    data = memoryview(struct.pack(">I", len(payload)) + payload)
    while data:
        try:
            data = data[os.write(fd, data) :]
        except BlockingIOError:  # the pipe is full: wait for room (only non-blocking fds get here)
            _wait(fd, select.POLLOUT, deadline if deadline is not None else float("inf"))


class FrameReader:
    """Frames from a pipe, buffered; ``read`` returns None at end of stream."""

    def __init__(self, fd: int, limit: int = FRAME_LIMIT):
        self.fd = fd
        self.limit = limit
        self.buffer = bytearray()

    def read(self, deadline: float | None = None) -> bytes | None:
        """The next frame. With a deadline the fd must be non-blocking: TimeoutError when no
        whole frame arrives in time (what arrived stays buffered for the next call)."""
        while True:
            frame = self._take()
            if frame is not None:
                return frame
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError  # a writer that never pauses never makes the read below wait
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:  # nothing yet (only non-blocking fds get here)
                _wait(self.fd, select.POLLIN, deadline if deadline is not None else float("inf"))
                continue
            if not data:
                if self.buffer:
                    raise FrameError("truncated frame")
                return None
            self.buffer += data

    def _take(self) -> bytes | None:
        if len(self.buffer) < 4:
            return None
        (size,) = struct.unpack(">I", self.buffer[:4])
        if size > self.limit:
            raise FrameError(f"frame of {size} bytes")
        if len(self.buffer) < 4 + size:
            return None
        frame = bytes(self.buffer[4 : 4 + size])
        del self.buffer[: 4 + size]
        return frame


def _wait(fd: int, event: int, deadline: float) -> None:
    poller = select.poll()
    poller.register(fd, event)
    remaining = deadline - time.monotonic()
    if remaining <= 0 or not poller.poll(None if remaining == float("inf") else remaining * 1000):
        raise TimeoutError
