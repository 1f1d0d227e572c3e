"""Memory stays bounded: a reader that stops reading stops the proxy
reading from its peer (the bytes wait in kernel socket buffers, not in the
proxy), and an idle connection holds no relay buffer at all."""
import hashlib
import random
import socket
import threading
import time

from conftest import TIMEOUT, conf_text, connect, free_port, recv_exactly, wait_until

KiB, MiB = 1 << 10, 1 << 20
PUSH = 64 * MiB
CHUNK = 64 * KiB
BUFFER_SIZE = 16 * KiB
# The proxy holds at most one ring of buffer_size per direction per
# connection; while one direction is stalled only that ring is full (16 KiB
# here). 4 MiB over the baseline is 256 rings: room for allocator noise and
# sanitizer bookkeeping, and far below the 64 MiB a proxy that kept reading
# from the writer would take.
RSS_BOUND_KIB = 4 * 1024


def stream(seed, n):
    r = random.Random(seed)
    while n > 0:
        k = min(n, CHUNK)
        yield r.randbytes(k)
        n -= k


class Pusher:
    """Writes N stream bytes to SOCK from a thread, counting what the kernel
    took so far; shuts SOCK's write side when done."""

    def __init__(self, sock, seed, n=PUSH):
        self.sock, self.seed, self.n = sock, seed, n
        self.sent, self.error, self.digest = 0, None, hashlib.sha256()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            for chunk in stream(self.seed, self.n):
                self.digest.update(chunk)
                view = memoryview(chunk)
                while view:
                    k = self.sock.send(view)
                    self.sent += k
                    view = view[k:]
            self.sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.error = e

    def join(self):
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive(), f"the pusher is stuck at {self.sent} bytes"
        assert self.error is None, self.error


def read_digest(sock):
    """Reads SOCK to EOF; returns (byte count, sha256)."""
    h, n = hashlib.sha256(), 0
    while True:
        b = sock.recv(1 << 18)
        if not b:
            return n, h.digest()
        h.update(b)
        n += len(b)


def wait_stalled(d, pusher, quiet=0.5):
    """Waits until neither the bytes pushed nor the proxy's RSS have moved
    for QUIET seconds; returns the RSS then."""
    last = {"at": time.monotonic(), "sample": None}

    def still():
        sample = (pusher.sent, d.rss_kib())
        if sample != last["sample"]:
            last["sample"], last["at"] = sample, time.monotonic()
            return False
        return time.monotonic() - last["at"] >= quiet
    wait_until(still, interval=0.05, what="the push to stall")
    assert pusher.thread.is_alive() and pusher.sent < PUSH, \
        f"all {pusher.sent} bytes went through: nothing was throttled"
    return last["sample"][1]


def modal_handler(conn, ctl):
    """The first byte picks the backend's role: 'e' echo (warm-up), 's' sink
    that reads only once ctl['release'] is set, 'p' pusher of PUSH bytes."""
    mode = recv_exactly(conn, 1)
    if mode == b"e":
        while True:
            b = conn.recv(CHUNK)
            if not b:
                break
            conn.sendall(b)
    elif mode == b"s":
        assert ctl["release"].wait(3 * TIMEOUT)
        ctl["result"] = read_digest(conn)
    elif mode == b"p":
        ctl["pusher"] = Pusher(conn, ctl["seed"])
        ctl["pusher"].thread.join(3 * TIMEOUT)
    conn.close()


def start(netpolld, servers):
    ctl = {"release": threading.Event(), "seed": random.randrange(1 << 31)}
    backend = servers(lambda conn: modal_handler(conn, ctl))
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", backend.address,
                           global_={"buffer_size": BUFFER_SIZE}))
    return d, port, backend, ctl


def warm_up(d, port):
    """One echo connection with data both ways: the buffer pool, session pool
    and allocator arenas hold their steady-state memory afterwards."""
    s = connect(port)
    s.sendall(b"e")
    payload = random.randbytes(4 * MiB)
    sender = threading.Thread(target=s.sendall, args=(payload,), daemon=True)
    sender.start()
    assert recv_exactly(s, len(payload)) == payload
    sender.join(TIMEOUT)
    s.close()
    d.wait_conns(1)


def test_paused_backend_bounds_proxy_memory_and_gets_every_byte(netpolld, servers):
    d, port, backend, ctl = start(netpolld, servers)
    warm_up(d, port)
    baseline = d.rss_kib()

    s = connect(port, timeout=3 * TIMEOUT)
    s.sendall(b"s")
    pusher = Pusher(s, ctl["seed"])
    stalled = wait_stalled(d, pusher)
    assert stalled - baseline < RSS_BOUND_KIB, \
        f"RSS grew {stalled - baseline} KiB with {pusher.sent} bytes pushed"

    ctl["release"].set()
    pusher.join()
    wait_until(lambda: "result" in ctl, timeout=3 * TIMEOUT, what="the backend to read to EOF")
    assert ctl["result"] == (PUSH, pusher.digest.digest())
    s.close()
    lines = d.wait_conns(2)
    assert int(lines[1]["bytes_in"]) == 1 + PUSH
    assert not backend.errors


def test_paused_client_bounds_proxy_memory_and_gets_every_byte(netpolld, servers):
    d, port, backend, ctl = start(netpolld, servers)
    warm_up(d, port)
    baseline = d.rss_kib()

    s = connect(port, timeout=3 * TIMEOUT)
    s.sendall(b"p")             # the backend pushes; the client reads nothing yet
    wait_until(lambda: "pusher" in ctl, what="the backend to start pushing")
    stalled = wait_stalled(d, ctl["pusher"])
    assert stalled - baseline < RSS_BOUND_KIB, \
        f"RSS grew {stalled - baseline} KiB with {ctl['pusher'].sent} bytes pushed"

    assert read_digest(s) == (PUSH, ctl["pusher"].digest.digest())
    ctl["pusher"].join()
    s.close()
    lines = d.wait_conns(2)
    assert int(lines[1]["bytes_out"]) == PUSH
    assert not backend.errors


def test_idle_connections_hold_no_buffers(netpolld, servers):
    """1000 proxied connections with no data cost the proxy less than 2 KiB
    each (a 16 KiB ring held per connection would be 16 MiB)."""
    n = 1000
    held = []

    def hold(conn):
        held.append(conn)       # the Server closes it at the end

    backend = servers(hold, backlog=n)
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", backend.address,
                           global_={"buffer_size": BUFFER_SIZE}))
    # Warm-up: one connection that moved data both ways, and is gone again.
    w = connect(port)
    wait_until(lambda: len(held) == 1, what="the warm-up connection")
    payload = random.randbytes(MiB)
    w.sendall(payload)
    assert recv_exactly(held[0], len(payload)) == payload
    held[0].sendall(payload)
    assert recv_exactly(w, len(payload)) == payload
    w.close()
    held[0].close()
    d.wait_conns(1)
    baseline_fds, baseline = d.fd_count(), d.rss_kib()

    clients = []
    try:
        for _ in range(n):
            clients.append(connect(port))
        wait_until(lambda: backend.accepted == n + 1, what=f"{n} backend connections")
        wait_until(lambda: d.fd_count() >= baseline_fds + 2 * n, what="the proxy's fds")
        grown = d.rss_kib() - baseline
        assert grown < n * 2, f"{n} idle connections grew the RSS by {grown} KiB"
    finally:
        for c in clients:
            c.close()
    # The client's FIN is passed on; the backend's answers it.
    wait_until(lambda: len(held) == n + 1, what="the backend's handlers")
    for c in held[1:]:
        c.close()
    # They were real sessions: each ends with a line of its own.
    lines = d.wait_conns(n + 1)
    idle = lines[1:]
    assert all(ln["end"] == "client_close" and ln["bytes_in"] == ln["bytes_out"] == "0"
               for ln in idle), [ln for ln in idle if ln["end"] != "client_close"][:3]
