"""Network faults (`X-Mock-Fault`, or a scenario's `fault`) made real on the connection.

A fault is not an answer: it is something the client's connection does. The mock acts on
the connection itself, wherever the server lets it reach it:

    reset      RST: SO_LINGER 0, then close -- the client sees "connection reset"
    empty      FIN with no byte sent -- the client sees the connection closed
    malformed  bytes that are not HTTP, then FIN
    truncated  the real status and headers, Content-Length of the whole body, half of it

`TransportFaults` acts on the connection's asyncio transport: `serving.MockProtocol`, the
protocol `mockserver serve` speaks, makes a request's fault in its one answer sequence.
Anywhere else (the WSGI app under a test client, or another server) the connection is
out of reach, and the gateway answers 501 (`problems.FaultUnavailable`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable

from mockserver import wire

MALFORMED = b"\x16\x03\x01\x00 this is not HTTP \xff\xfe\r\n\r\n"
_LINGER_NOW = struct.pack("ii", 1, 0)


def truncated_head(answer: wire.Answer, default_headers: wire.RawHeaders) -> bytes:
    """The head of a `truncated` answer: the real status and headers, with the length
    of the whole body (at least 2, so that half of it is always short)."""
    head, _, _ = wire.head_bytes(
        answer.status,
        [(k, v) for k, v in answer.headers if k.lower() != "connection"],
        default_headers,
        keep_alive=False,
        method=answer.method,
        length=max(len(answer.body), 2),
    )
    return head


class TransportFaults:
    """One request's connection, as an asyncio transport, and the faults it can make.

    `on_done` is called once the fault has closed the connection: the server must then
    neither answer the request itself nor count it as an app that forgot to answer.
    """

    def __init__(self, transport: asyncio.Transport, on_done: Callable[[], None]) -> None:
        self._transport = transport
        self._on_done = on_done

    def make(self, fault: str, answer: wire.Answer, default_headers: wire.RawHeaders) -> None:
        transport = self._transport
        if fault == "reset":
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_NOW)
            transport.abort()  # close now, unsent data dropped: with linger 0, an RST
        else:
            if fault == "malformed":
                transport.write(MALFORMED)
            elif fault == "truncated":
                transport.write(truncated_head(answer, default_headers))
                transport.write(answer.body[: len(answer.body) // 2])
            transport.close()  # FIN once what was written is sent
        self._on_done()
