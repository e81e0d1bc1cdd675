"""Draining on SIGTERM without losing a request sent on an accepted connection.

uvicorn on its own stops listening at once, closes every idle connection (a request the
client has just sent on one is lost in flight) and re-raises the signal, so the process
ends by SIGTERM. `DrainingServer` instead:

1. on the first SIGTERM (or SIGINT) calls `on_drain` (the service turns `/readyz` to 503)
   and keeps serving for `drain_s` seconds, for load balancers to notice (the request middleware
   adds `Connection: close` to every response meanwhile);
2. then stops listening without losing a connection: the listeners drop new SYNs
   (`service.listener`), asyncio stops accepting and finishes building the transports of
   what it accepted last (Python 3.11 drops a connection silently when the listener
   closes between its accept and its transport), handshakes under way get
   `HANDSHAKE_SETTLE_S` to land in the backlog, the backlog is taken, and only then are
   the listeners closed (a client whose connect succeeded is not reset);
3. gives connections `IDLE_GRACE_S` to bring their request (each closes after its
   response), then lets uvicorn finish what is in flight and run the lifespan shutdown
   (every batcher runs its queue out);
4. exits with status 0. A second signal skips the rest of the drain period; a second
   SIGINT forces the exit, as in uvicorn.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn

from service.listener import refuse_new_connections

log = logging.getLogger("robe.service")

# How long a connection open at the end of the drain may take to send its request.
IDLE_GRACE_S = 1.0
# How long a handshake under way when new SYNs start being dropped may take to complete.
HANDSHAKE_SETTLE_S = 0.1


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, drain_s: float, on_drain: Callable[[], None]):
        super().__init__(config)
        self.drain_s = drain_s
        self.on_drain = on_drain
        self._draining = False
        self._adopting: set[asyncio.Task[Any]] = set()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not recorded in _captured_signals: uvicorn would re-raise it and exit by signal.
        if self._draining or self.should_exit:
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            self.should_exit = True
            return
        self._draining = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not serving yet
            self.should_exit = True
            return
        loop.call_soon_threadsafe(self._begin_drain, loop)

    def _begin_drain(self, loop: asyncio.AbstractEventLoop) -> None:
        log.info("SIGTERM: draining for %.1fs (readyz 503, Connection: close)", self.drain_s)
        self.on_drain()
        loop.call_later(self.drain_s, setattr, self, "should_exit", True)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self._stop_listening()
        deadline = time.monotonic() + IDLE_GRACE_S
        while self.server_state.connections and time.monotonic() < deadline:
            if not self.force_exit:
                await asyncio.sleep(0.01)
        await super().shutdown(sockets)

    async def _stop_listening(self) -> None:
        """Refuse new connections, serve every one already accepted, close the listeners."""
        loop = asyncio.get_running_loop()
        listeners = [sock for server in self.servers for sock in server.sockets]
        filtered: list[bool] = []
        for listener in listeners:  # on a dup: uvloop's listeners are not full sockets
            with socket.socket(fileno=os.dup(listener.fileno())) as sock:
                filtered.append(refuse_new_connections(sock))
        for sock in listeners:
            loop.remove_reader(sock.fileno())
        # asyncio builds an accepted connection's transport one loop step after its accept
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        if any(filtered):
            await asyncio.sleep(HANDSHAKE_SETTLE_S)
        taken = sum(self._adopt_backlog(listener) for listener in listeners)
        for server in self.servers:
            server.close()
        log.info("stopped listening (%d connections taken from the backlog)", taken)

    def _adopt_backlog(self, listener: Any) -> int:
        """Accept what the kernel holds for `listener` and serve it like any connection."""
        loop = asyncio.get_running_loop()
        config = self.config
        taken = 0
        with socket.socket(fileno=os.dup(listener.fileno())) as sock:
            sock.setblocking(False)
            while True:
                try:
                    conn, _ = sock.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:  # pragma: no cover - the listener went away
                    break
                taken += 1
                conn.setblocking(False)
                task = loop.create_task(
                    loop.connect_accepted_socket(
                        lambda: config.http_protocol_class(  # type: ignore[call-arg]
                            config=config,
                            server_state=self.server_state,
                            app_state=self.lifespan.state,
                            _loop=loop,
                        ),
                        conn,
                    )
                )
                self._adopting.add(task)
                task.add_done_callback(self._adopting.discard)
        return taken


def is_draining(app: Any) -> bool:
    state = getattr(app.state, "service", None)
    return bool(state is not None and state.draining)


def mark_draining(app: Any) -> None:
    state = getattr(app.state, "service", None)
    if state is not None:
        state.draining = True
