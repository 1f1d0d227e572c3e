"""One soak client connection: carries out a soak_shapes.Plan through the
proxy (asyncio streams) and keeps what the final checks need: where it
came from as the proxy logs it, what it sent and received, and how it
ended.

Outcomes:
  ok             every byte both ways, checked by the server's trailer
  cut_client     deliberately reset by this client (the plan said so)
  cut            ended early by the other side: must be explained by a fault
  bad            wrong bytes, or bytes where none should be: always a failure
  stalled        no progress for STALL_S (set by the worker's watchdog)
  connect_failed the proxy did not accept the connection
"""
import asyncio
import hashlib
import socket
import struct
import time

from soak_proto import (CHUNK, FLAG_HALF_CLOSE, MODE_STREAM, TRAILER, canonical_ip, pack_header,
                        proxy_tlv, proxy_v1, proxy_v1_unknown, proxy_v2, proxy_v2_local,
                        stream_hash, stream_slice, unpack_trailer)

READ_LIMIT = 4 * CHUNK          # StreamReader buffer before it pauses the socket
LINGER_RESET = struct.pack("ii", 1, 0)


class Cut(Exception):
    """The stream ended (EOF) before what the plan expects."""


class Bad(Exception):
    """The proxy delivered bytes that were not sent."""


class DeliberateCut(Exception):
    """The plan's reset point was reached."""


def hostport(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def fake_source(tag, v6):
    """A source address no other connection of the run carries, so the
    proxy's log line (whose client= is the PROXY header's) names it alone."""
    w, n = tag >> 40, tag & ((1 << 40) - 1)
    if v6:
        return f"fd00::{w:x}:{(n >> 32) & 0xffff:x}:{(n >> 16) & 0xffff:x}:{n & 0xffff:x}", \
            1024 + n % 64000
    return f"10.{w}.{(n >> 8) & 255}.{n & 255}", 1024 + (n >> 16) % 64000


class Conn:
    """A connection in progress and, once it ends, its record."""

    def __init__(self, plan, target, tag):
        self.plan = plan
        self.listener, self.host, self.port = target
        self.tag = tag
        self.key = None             # client=... as the proxy logs it
        self.t0 = self.t1 = None    # wall clock: before connect, at the end
        self.progress = time.monotonic()
        self.sent = 0               # bytes given to the socket (header + payload)
        self.recvd = 0              # bytes received (payload + trailer)
        self.up_sent = 0            # payload bytes sent
        self.down_got = 0           # payload bytes received
        self.h_up, self.h_down = hashlib.sha256(), hashlib.sha256()
        self.writer = None
        self.eof = False            # the stream ended with a FIN (not a reset)
        self.outcome = None
        self.detail = ""
        self.kernel_sent = 0        # what the kernel took, at the end
        self.stalled = False
        self.task = None
        self.proxy_seen = False     # the server got a PROXY header (send_proxy)

    def tick(self):
        self.progress = time.monotonic()

    # ---- the exchange ----------------------------------------------------

    async def run(self):
        """Carries the plan out; sets outcome and detail, never raises but
        CancelledError (the watchdog's)."""
        self.t0 = time.time()
        try:
            try:
                reader, self.writer = await asyncio.open_connection(
                    self.host, self.port, limit=READ_LIMIT)
            except OSError as e:
                self.outcome, self.detail = "connect_failed", repr(e)
                return
            local = self.writer.get_extra_info("sockname")
            self.key = hostport(local[0], local[1])
            await self._exchange(reader)
            self.outcome = "ok"
        except DeliberateCut:
            self.outcome = "cut_client"
        except Bad as e:
            self.outcome, self.detail = "bad", str(e)
        except asyncio.IncompleteReadError as e:
            self.recvd += len(e.partial)
            self.eof = True
            self.outcome, self.detail = "cut", f"EOF after {self.recvd} bytes"
        except Cut as e:
            self.eof = True
            self.outcome, self.detail = "cut", str(e) or f"EOF after {self.recvd} bytes"
        except (ConnectionError, OSError) as e:
            self.outcome, self.detail = "cut", repr(e)
        finally:
            self.t1 = time.time()
            self._close()

    def _close(self):
        w = self.writer
        if w is None:
            return
        try:
            self.kernel_sent = max(0, self.sent - w.transport.get_write_buffer_size())
        except Exception:
            self.kernel_sent = self.sent
        if self.outcome == "ok":
            w.close()
            return
        if self.outcome == "cut_client":
            sock = w.get_extra_info("socket")
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
            except OSError:
                pass
        w.transport.abort()

    async def _exchange(self, reader):
        p, w = self.plan, self.writer
        if p.proxy is not None:
            await self._send_proxy_header()
        header = pack_header(p.mode, p.flags, p.rounds, p.up, p.down, p.seed_down, self.tag)
        if p.idle_s and not p.header_first:
            await self._sleep(p.idle_s)
        w.write(header)
        self.sent += len(header)
        if p.idle_s and p.header_first:
            await w.drain()
            await self._sleep(p.idle_s)
        if p.mode == MODE_STREAM:
            await both(self._send_up(p.up), self._recv_down(reader, p.down))
        else:
            for _ in range(p.rounds):
                await self._send_up(p.up)
                if p.flags & FLAG_HALF_CLOSE:
                    w.write_eof()
                await self._recv_down(reader, p.down)
        trailer = await reader.readexactly(TRAILER.size)
        self.recvd += len(trailer)
        self.tick()
        extra = await reader.read(1)
        if extra:
            self.recvd += len(extra)
            raise Bad(f"a byte after the trailer ({self.recvd} received)")
        self.eof = True
        self._check_trailer(trailer)

    async def _send_proxy_header(self):
        p, w = self.plan, self.writer
        v6 = self.tag % 2 == 1
        src, sport = fake_source(self.tag, v6)
        dst = self.host if (":" in self.host) == v6 else ("::1" if v6 else "127.0.0.1")
        if p.proxy == "v1":
            hdr = proxy_v1(src, sport, dst, self.port)
        elif p.proxy == "v2":
            hdr = proxy_v2(src, sport, dst, self.port)
        elif p.proxy == "v2_tlv":
            hdr = proxy_v2(src, sport, dst, self.port,
                           proxy_tlv(0x04, b"noop") + proxy_tlv(0xE0, b"soak-%d" % self.tag))
        elif p.proxy == "v1_unknown":
            hdr, src = proxy_v1_unknown(), None
        else:
            hdr, src = proxy_v2_local(proxy_tlv(0x04, b"x")), None
        if src is not None:
            self.key = hostport(canonical_ip(src), sport)
        if p.proxy_split:
            cut = len(hdr) // 2
            w.write(hdr[:cut])
            await w.drain()
            await asyncio.sleep(0.01)
            hdr = hdr[cut:]
        w.write(hdr)

    async def _sleep(self, seconds):
        self.tick()
        await asyncio.sleep(seconds)
        self.tick()

    async def _send_up(self, n):
        p, w = self.plan, self.writer
        left = n
        while left > 0:
            k = min(CHUNK, left)
            if p.cut is not None and p.cut[0] == "up":
                k = min(k, max(1, p.cut[1] - self.up_sent))
            chunk = stream_slice(p.seed_up, self.up_sent, k)
            self.h_up.update(chunk)
            w.write(chunk)
            self.up_sent += k
            self.sent += k
            left -= k
            await w.drain()
            self.tick()
            if p.cut is not None and p.cut[0] == "up" and self.up_sent >= p.cut[1]:
                raise DeliberateCut

    async def _recv_down(self, reader, n):
        p = self.plan
        left = n
        while left > 0:
            k = min(CHUNK, left) if p.slow is None else min(p.slow[0], left)
            if p.cut is not None and p.cut[0] == "down":
                k = min(k, max(1, p.cut[1] - self.down_got))
            b = await reader.read(k)
            if not b:
                raise Cut(f"EOF after {self.recvd} bytes")
            self.h_down.update(b)
            self.down_got += len(b)
            self.recvd += len(b)
            left -= len(b)
            self.tick()
            if p.cut is not None and p.cut[0] == "down" and self.down_got >= p.cut[1]:
                raise DeliberateCut
            if p.slow is not None and left > 0:
                await self._sleep(_uniform(self.tag + self.down_got, p.slow[1], p.slow[2]))

    def _check_trailer(self, raw):
        p = self.plan
        n_in, n_out, h_in, h_out, proxy_src = unpack_trailer(raw)
        # send_proxy (on for this connection's backend, or not: a reload
        # may have just changed it) names the client as the log does.
        if proxy_src and proxy_src != self.key:
            raise Bad(f"the server got a PROXY header from {proxy_src}, the client is {self.key}")
        self.proxy_seen = bool(proxy_src)
        if n_in != p.total_up or h_in != self.h_up.digest():
            raise Bad(f"the server received {n_in} bytes (sha256 {h_in.hex()[:12]}), "
                      f"the client sent {p.total_up} ({self.h_up.hexdigest()[:12]})")
        if n_out != p.total_down or n_out != self.down_got or h_out != self.h_down.digest():
            raise Bad(f"the server sent {n_out} bytes (sha256 {h_out.hex()[:12]}), "
                      f"the client received {self.down_got} ({self.h_down.hexdigest()[:12]})")

    # ---- the record --------------------------------------------------------

    def record(self):
        p = self.plan
        r = {
            "tag": self.tag, "shape": p.shape, "listener": self.listener, "key": self.key,
            "t0": self.t0, "t1": self.t1, "outcome": self.outcome, "detail": self.detail,
            "sent": self.sent, "recvd": self.recvd, "kernel_sent": self.kernel_sent,
            "eof": self.eof, "up": p.total_up, "down": p.total_down,
        }
        if self.proxy_seen:
            r["send_proxy"] = True
        if self.outcome in ("cut", "cut_client", "stalled"):
            # What did arrive must be the start of what the server sends.
            r["prefix_ok"] = self.h_down.digest() == stream_hash(p.seed_down, self.down_got)
        return r


def _uniform(x, lo, hi):
    """A cheap deterministic value in [LO, HI) from the integer X."""
    return lo + (hi - lo) * (((x * 2654435761) & 0xFFFF) / 65536.0)


async def both(*coros):
    """Runs COROS together; the first failure cancels the others and is
    raised."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for t in tasks:
            if t.done() and not t.cancelled() and t.exception() is not None:
                raise t.exception()
    finally:
        for t in tasks:
            if not t.done():
                t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
