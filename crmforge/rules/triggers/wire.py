"""Messages between the parent and a trigger worker: length-prefixed JSON frames.

JSON, not pickle: the parent must never unpickle what a sandboxed process wrote. Decimal,
date and datetime travel as tagged objects. Frames are limited in size, and the parent
reads them against a deadline, so a misbehaving worker can neither flood nor stall it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import select
import struct
import time
from decimal import Decimal
from typing import Any

MAX_FRAME = 4 * 1024 * 1024
_HEADER = struct.Struct(">I")


class WireError(Exception):
    """The peer sent something unreadable, too large, or nothing in time."""


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"$d": str(value)}
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    raise TypeError(f"{type(value).__name__} values cannot leave a trigger")


def _hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        key, raw = next(iter(obj.items()))
        if key == "$d" and isinstance(raw, str):
            return Decimal(raw)
        if key == "$dt" and isinstance(raw, str):
            return dt.datetime.fromisoformat(raw)
        if key == "$date" and isinstance(raw, str):
            return dt.date.fromisoformat(raw)
    return obj


def encode(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, default=_default, separators=(",", ":")).encode()
    if len(body) > MAX_FRAME:
        raise WireError(f"a message is larger than {MAX_FRAME} bytes")
    return _HEADER.pack(len(body)) + body


def decode(body: bytes) -> dict[str, Any]:
    try:
        message = json.loads(body, object_hook=_hook, parse_float=Decimal)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"unreadable message: {exc}"[:200]) from None
    if not isinstance(message, dict):
        raise WireError("a message must be an object")
    return message


def write_frame(fd: int, message: dict[str, Any]) -> None:
    data = memoryview(encode(message))
    while data:
        n = os.write(fd, data)
        data = data[n:]


def read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    while n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError("the peer did not answer in time")
        chunk = os.read(fd, min(n, 1 << 16))
        if not chunk:
            raise EOFError("the peer closed the pipe")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, deadline: float | None = None) -> dict[str, Any]:
    (size,) = _HEADER.unpack(read_exact(fd, _HEADER.size, deadline))
    if size > MAX_FRAME:
        raise WireError(f"a message of {size} bytes is too large")
    return decode(read_exact(fd, size, deadline))
