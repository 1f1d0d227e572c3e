"""One backend server of the soak, run as its own process so that the soak
can kill it (SIGKILL: the kernel cuts every connection it holds, as a
crashed server would) and start it again on the same address.

    python3 soak_server.py HOST PORT

It prints `ready` on stdout once it listens. Each connection speaks
soak_proto: the header says what to read and what to send; the server
hashes what it reads, sends the stream, then the trailer, and closes.
A connection that ends early (the client or the proxy cut it) is
dropped quietly; anything a correct proxy could not cause (a header
that is not one, bytes after a half-close) is printed on stderr as an
`ERROR` line, which fails the soak, and the connection is reset.
"""
import asyncio
import hashlib
import os
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from soak_proto import (CHUNK, FLAG_HALF_CLOSE, HEADER, MODE_STREAM, V2_SIG,  # noqa: E402
                        pack_trailer, parse_proxy_source, stream_slice, unpack_header)

READ_LIMIT = 4 * CHUNK          # StreamReader buffer before it pauses the socket


class ProtocolError(Exception):
    """The peer sent what no correct proxy would have delivered."""


def error(msg):
    print(f"ERROR {msg}", file=sys.stderr, flush=True)


class Exchange:
    """One connection's two hashed streams."""

    def __init__(self, reader, writer, seed, proxy_src):
        self.reader, self.writer, self.seed = reader, writer, seed
        self.proxy_src = proxy_src      # what send_proxy said, or ""
        self.h_in, self.h_out = hashlib.sha256(), hashlib.sha256()
        self.n_in = self.n_out = 0

    async def recv(self, n):
        """Reads exactly N payload bytes; EOFError if the stream ends first."""
        left = n
        while left > 0:
            b = await self.reader.read(min(CHUNK, left))
            if not b:
                raise EOFError
            self.h_in.update(b)
            self.n_in += len(b)
            left -= len(b)

    async def send(self, n):
        """Sends the next N bytes of the down stream."""
        left = n
        while left > 0:
            k = min(CHUNK, left)
            chunk = stream_slice(self.seed, self.n_out, k)
            self.h_out.update(chunk)
            self.writer.write(chunk)
            self.n_out += k
            left -= k
            await self.writer.drain()

    async def expect_eof(self, tag):
        b = await self.reader.read(1)
        if b:
            raise ProtocolError(f"tag={tag}: a byte after the client's half-close")

    def trailer(self):
        return pack_trailer(self.n_in, self.n_out, self.h_in.digest(), self.h_out.digest(),
                            self.proxy_src)


async def both(*coros):
    """Runs COROS together; the first failure cancels the others."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for t in done:
            if t.exception() is not None:
                raise t.exception()
    finally:
        for t in tasks:
            if not t.done():
                t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def read_preamble(reader):
    """(the soak header, the source of the PROXY header before it or "").
    The proxy sends a PROXY header first when the backend has send_proxy
    (a reload may turn it on or off at any time)."""
    raw = await reader.readexactly(HEADER.size)
    src = ""
    try:
        if raw.startswith(b"PROXY "):
            while b"\r\n" not in raw[:108]:
                if len(raw) >= 108:
                    raise ValueError(f"a v1 line without its end: {raw[:40]!r}")
                raw += await reader.readexactly(1)
            end = raw.index(b"\r\n") + 2
            src, raw = parse_proxy_source(raw[:end]), raw[end:]
        elif raw.startswith(V2_SIG):
            end = 16 + int.from_bytes(raw[14:16], "big")
            if end > len(raw):
                raw += await reader.readexactly(end - len(raw))
            src, raw = parse_proxy_source(raw[:end]), raw[end:]
    except ValueError as e:
        raise ProtocolError(str(e))
    if len(raw) < HEADER.size:
        raw += await reader.readexactly(HEADER.size - len(raw))
    return raw, src


async def serve(reader, writer):
    abort = False
    try:
        try:
            raw, proxy_src = await read_preamble(reader)
        except asyncio.IncompleteReadError as e:
            # Nothing at all: a health check, or a client cut before its
            # header. A part of a header: a cut too (the soak checks the
            # client's side); either way nothing to answer.
            del e
            return
        try:
            mode, flags, rounds, up, down, seed, tag = unpack_header(raw)
        except ValueError as e:
            raise ProtocolError(str(e))
        x = Exchange(reader, writer, seed, proxy_src)
        if mode == MODE_STREAM:
            await both(x.recv(up), x.send(down))
        else:
            for _ in range(rounds):
                await x.recv(up)
                if flags & FLAG_HALF_CLOSE:
                    await x.expect_eof(tag)
                await x.send(down)
        writer.write(x.trailer())
        await writer.drain()
    except ProtocolError as e:
        error(str(e))
        abort = True
    except (EOFError, ConnectionError, OSError):
        abort = True            # cut: by the client, the proxy or a fault
    finally:
        if abort:
            writer.transport.abort()
        else:
            writer.close()


async def main(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = None
    # The port may still be held for a moment by the process this one
    # replaces (or taken by a stray connect): try for a bounded while.
    for attempt in range(100):
        try:
            server = await asyncio.start_server(serve, host, port, family=family,
                                                reuse_address=True, backlog=4096,
                                                limit=READ_LIMIT)
            break
        except OSError as e:
            if attempt == 99:
                error(f"cannot listen on {host}:{port}: {e}")
                sys.exit(1)
            await asyncio.sleep(0.1)
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
