"""service.drain in-process: the stop of listening loses no connection the kernel accepted.

The race these tests pin down: asyncio accepts a connection in one loop step and builds
its transport in a task of the next; if the listener is closed in between (uvicorn's
shutdown), Python 3.11 drops the connection silently and the client's request is reset.
"""

from __future__ import annotations

import asyncio
import errno
import select
import socket
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import pytest
import uvicorn

from service.drain import DrainingServer
from service.listener import refuse_new_connections

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def app(scope: Message, receive: Receive, send: Send) -> None:
    await receive()
    headers = [(b"connection", b"close")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


def request(sock: socket.socket) -> None:
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")


def read_reply(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except OSError as exc:  # a reset: the request was lost
        return f"{type(exc).__name__}".encode()
    return data


@pytest.mark.parametrize("clients", [1, 8, 32])
def test_connections_accepted_as_listening_stops_are_served(clients: int) -> None:
    async def scenario() -> list[bytes]:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="off")
        server = DrainingServer(config, drain_s=0.0, on_drain=lambda: None)
        config.load()  # what uvicorn.Server.serve does before startup
        server.lifespan = config.lifespan_class(config)
        await server.startup()
        port = server.servers[0].sockets[0].getsockname()[1]
        socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(clients)]
        for s in socks:
            request(s)
        # Two loop steps: in the second, asyncio's accept callback (run after this
        # coroutine's own step) takes the backlog and schedules the transports'
        # creation for the third, where this coroutine starts the shutdown first.
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        await server.shutdown()
        loop = asyncio.get_running_loop()
        replies = await asyncio.gather(*(loop.run_in_executor(None, read_reply, s) for s in socks))
        for s in socks:
            s.close()
        return list(replies)

    replies = asyncio.run(scenario())
    assert all(r.startswith(b"HTTP/1.1 200") for r in replies), replies


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="socket filters are Linux's")
def test_refused_listener_completes_no_new_handshake_but_keeps_open_connections() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        address = listener.getsockname()
        before = socket.create_connection(address)
        accepted, _ = listener.accept()
        assert refuse_new_connections(listener)
        late = socket.socket()
        late.setblocking(False)
        assert late.connect_ex(address) == errno.EINPROGRESS
        _, writable, _ = select.select([], [late], [], 0.3)
        assert not writable  # the SYN was dropped: no handshake, nothing in the backlog
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):  # nothing reached the backlog
            listener.accept()
        before.sendall(b"still here")  # an established connection is untouched
        assert accepted.recv(64) == b"still here"
        for s in (before, accepted, late):
            s.close()
