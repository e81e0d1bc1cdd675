"""A minimal HTTP/1.1 keep-alive client on asyncio streams, for the open-loop runner.

A general client (httpx) spends more CPU per request than the server under test on a
small machine, which would measure the client. Requests here are pre-encoded bytes and
responses are read by Content-Length: all the runner needs, and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Target:
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"url must be http://HOST[:PORT], got {url!r}")
        if parts.path not in ("", "/"):
            raise ValueError(f"url must not have a path, got {url!r}")
        return cls(parts.hostname, parts.port or 80)

    def post(self, path: str, body: bytes) -> bytes:
        """The full bytes of a keep-alive `POST path` with a JSON body."""
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body


class ProtocolError(Exception):
    """The server's reply is not an HTTP/1.1 response this client can read."""


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.reusable = True

    @classmethod
    async def open(cls, target: Target) -> Connection:
        reader, writer = await asyncio.open_connection(target.host, target.port)
        return cls(reader, writer)

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        """Write one request, read its response: (status, body)."""
        self._writer.write(raw)
        await self._writer.drain()
        try:
            head = await self._reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            raise ProtocolError("connection closed before a response") from exc
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError(f"bad status line {lines[0]!r}")
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            if key == "content-length":
                length = int(value.strip())
            elif key == "connection" and value.strip().lower() == "close":
                self.reusable = False
            elif key == "transfer-encoding":
                raise ProtocolError("chunked responses are not supported")
        if length is None:
            raise ProtocolError("response without Content-Length")
        body = await self._reader.readexactly(length)
        return int(parts[1]), body

    @property
    def stale(self) -> bool:
        """The server has closed its end (an idle keep-alive connection timed out)."""
        return self._reader.at_eof()

    def close(self) -> None:
        self.reusable = False
        self._writer.close()

    async def aclose(self) -> None:
        """Close and wait until the socket is gone (before the event loop ends)."""
        self.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()
