"""A TCP server on 127.0.0.1 for the egress tests: it records each connection and every byte it
receives, sends an optional banner on connect and answers line by line. "No connection" and
"connected, but not a byte sent" are what the egress guard's tests assert."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field


@dataclass
class Listener:
    banner: bytes = b""
    answer: Callable[[bytes], bytes | None] | None = None
    port: int = 0
    connections: int = 0
    closed: int = 0
    received: list[bytes] = field(default_factory=list)  # per connection, in order

    @property
    def all_received(self) -> bytes:
        return b"".join(self.received)

    async def settled(self, within: float = 5.0) -> None:
        """Wait until every connection made so far has ended (its peer closed it)."""
        deadline = time.monotonic() + within
        while self.closed < self.connections:
            assert time.monotonic() < deadline, "a connection to the listener did not end"
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)  # a connection still in the accept queue shows up by now


@contextlib.asynccontextmanager
async def listening(
    banner: bytes = b"", answer: Callable[[bytes], bytes | None] | None = None
) -> AsyncIterator[Listener]:
    """Listen on 127.0.0.1 (a free port: ``listener.port``) until the block ends."""
    listener = Listener(banner, answer)
    writers: list[asyncio.StreamWriter] = []
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            tasks.add(task)
        writers.append(writer)
        listener.connections += 1
        index = len(listener.received)
        listener.received.append(b"")
        try:
            if listener.banner:
                writer.write(listener.banner)
                await writer.drain()
            while line := await reader.readline():
                listener.received[index] += line
                out = listener.answer(line) if listener.answer else None
                if out:
                    writer.write(out)
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            listener.closed += 1
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    listener.port = int(server.sockets[0].getsockname()[1])
    try:
        yield listener
    finally:
        server.close()
        for writer in writers:
            writer.close()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        await server.wait_closed()
