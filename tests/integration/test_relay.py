"""Relaying: bytes cross the proxy unchanged, over every address family,
under concurrency and through a deliberately tiny ring; each finished
connection leaves one log line with the fields SPEC.md promises."""
import hashlib
import os
import random
import re
import socket
import struct
import threading
import time

from conftest import (TIMEOUT, conf_text, hostport, connect, echo_handler, free_port, recv_all,
                      recv_exactly)

# The connection log line's keys, in the order SPEC.md gives them.
CONN_KEYS = ["conn", "client", "listener", "backend", "server", "connect_ms",
             "duration_ms", "bytes_in", "bytes_out", "retries", "end"]
MiB = 1 << 20
CHUNK = 1 << 16

# The integrity protocol. The client sends HEADER (how many bytes the
# server must send back, and the seed they derive from), then its payload,
# then a FIN. The server sends its bytes while reading the payload to EOF,
# then appends the sha256 of what it read, and closes.
HEADER = struct.Struct("!II")
DIGEST_LEN = 32


def stream(seed, n):
    """N pseudo-random bytes derived from SEED, in chunks: both ends of a
    connection recompute the same bytes without holding them whole."""
    r = random.Random(seed)
    while n > 0:
        k = min(n, CHUNK)
        yield r.randbytes(k)
        n -= k


def stream_digest(seed, n):
    h = hashlib.sha256()
    for chunk in stream(seed, n):
        h.update(chunk)
    return h.digest()


def integrity_handler(conn):
    n, seed = HEADER.unpack(recv_exactly(conn, HEADER.size))
    upload = {}

    def read_upload():
        h, total = hashlib.sha256(), 0
        try:
            while True:
                b = conn.recv(CHUNK)
                if not b:
                    break
                h.update(b)
                total += len(b)
            upload["digest"] = h.digest()
        except OSError as e:
            upload["error"] = e

    reader = threading.Thread(target=read_upload, daemon=True)
    reader.start()
    for chunk in stream(seed, n):
        conn.sendall(chunk)
    reader.join(TIMEOUT)
    assert not reader.is_alive(), "server: the upload never reached EOF"
    assert "digest" in upload, f"server: reading the upload failed: {upload.get('error')}"
    conn.sendall(upload["digest"])
    conn.close()


def integrity_client(port, up, down, seed, host="127.0.0.1", prepare=None):
    """Runs one integrity exchange; returns the client's local address.
    Uploads UP bytes from SEED+1, expects DOWN bytes from SEED. PREPARE(sock)
    may set socket options before the connect."""
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    if prepare:
        prepare(s)
    s.settimeout(TIMEOUT)
    s.connect((host, port))
    local = s.getsockname()
    try:
        s.sendall(HEADER.pack(down, seed))
        sent = hashlib.sha256()
        for chunk in stream(seed + 1, up):
            s.sendall(chunk)
            sent.update(chunk)
        s.shutdown(socket.SHUT_WR)
        got, total, tail = hashlib.sha256(), 0, b""
        while True:
            b = s.recv(CHUNK)
            if not b:
                break
            # The first DOWN bytes are the download; the rest the digest.
            body = b[:max(0, down - total)]
            got.update(body)
            tail += b[len(body):]
            total += len(b)
    finally:
        s.close()
    assert total == down + DIGEST_LEN, f"received {total} bytes, expected {down} + digest"
    assert got.digest() == stream_digest(seed, down), "download corrupted"
    assert tail == sent.digest(), "the server's digest of the upload does not match"
    return local


def exchange(sock, payload):
    """Sends PAYLOAD from a thread while reading as many bytes back."""
    err = []

    def send():
        try:
            sock.sendall(payload)
        except OSError as e:
            err.append(e)
    t = threading.Thread(target=send, daemon=True)
    t.start()
    back = recv_exactly(sock, len(payload))
    t.join(TIMEOUT)
    assert not t.is_alive() and not err, f"sending failed: {err}"
    return back


def raw_conn_lines(d):
    return [ln[ln.index("conn="):] for ln in d.log().splitlines() if re.search(r"\bconn=\d+ ", ln)]


def check_conn_line(d, line, *, client, server, bytes_in, bytes_out, end):
    """LINE (parsed) has every SPEC field with the expected values, and the
    raw line lists the keys in SPEC order."""
    raws = [r for r in raw_conn_lines(d) if r.startswith(f"conn={line['conn']} ")]
    assert len(raws) == 1, raws
    assert re.findall(r"(\w+)=", raws[0]) == CONN_KEYS, raws[0]
    assert line["client"] == client
    assert line["listener"] == "front"
    assert line["backend"] == "pool"
    assert line["server"] == server
    assert line["retries"] == "0"
    assert int(line["connect_ms"]) <= int(line["duration_ms"])
    assert (int(line["bytes_in"]), int(line["bytes_out"])) == (bytes_in, bytes_out), raws[0]
    assert line["end"] == end, raws[0]


def fmt(sockname):
    """A socket's own address as the connection log writes it."""
    return hostport(*sockname[:2])


def test_echo_relay_round_trips_bytes_and_logs_every_field(netpolld, servers):
    backend = servers(echo_handler)
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", backend.address))
    payload = os.urandom(256 * 1024)

    s = connect(port)
    client = fmt(s.getsockname())
    assert exchange(s, payload) == payload
    s.close()   # the client closes first

    (line,) = d.wait_conns(1)
    check_conn_line(d, line, client=client, server=backend.address,
                    bytes_in=len(payload), bytes_out=len(payload), end="client_close")
    assert not backend.errors


def test_server_speaks_first_and_its_close_ends_the_session(netpolld, servers):
    banner, bye = b"220 netpolld-test ESMTP ready\r\n", b"221 bye\r\n"

    def banner_handler(conn):
        conn.sendall(banner)        # before the client said anything
        assert recv_exactly(conn, 6) == b"QUIT\r\n"
        conn.sendall(bye)
        conn.close()                # the server closes first

    backend = servers(banner_handler)
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", backend.address))

    s = connect(port)
    client = fmt(s.getsockname())
    assert recv_exactly(s, len(banner)) == banner
    s.sendall(b"QUIT\r\n")
    assert recv_all(s) == bye       # then EOF
    s.close()

    (line,) = d.wait_conns(1)
    check_conn_line(d, line, client=client, server=backend.address,
                    bytes_in=6, bytes_out=len(banner) + len(bye), end="server_close")
    assert not backend.errors


def test_ipv6_listener_relays_to_ipv6_backend(netpolld, servers):
    backend = servers(echo_handler, host="::1")
    port = free_port("::1")
    d = netpolld(conf_text(f"[::1]:{port}", backend.address))
    payload = os.urandom(64 * 1024)

    s = connect(port, "::1")
    client = fmt(s.getsockname())
    assert exchange(s, payload) == payload
    s.close()

    (line,) = d.wait_conns(1)
    assert backend.address == f"[::1]:{backend.port}"
    check_conn_line(d, line, client=client, server=backend.address,
                    bytes_in=len(payload), bytes_out=len(payload), end="client_close")


def test_unix_listener_relays_to_unix_backend(netpolld, servers, tmp_path):
    front, back = str(tmp_path / "front.sock"), str(tmp_path / "back.sock")
    backend = servers(echo_handler, path=back)
    d = netpolld(conf_text(f"unix:{front}", backend.address))
    payload = os.urandom(64 * 1024)

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect(front)
    assert exchange(s, payload) == payload
    s.close()

    (line,) = d.wait_conns(1)
    assert line["client"].startswith("unix:"), line
    check_conn_line(d, line, client=line["client"], server=f"unix:{back}",
                    bytes_in=len(payload), bytes_out=len(payload), end="client_close")
    assert not backend.errors


def test_one_listener_serves_every_listen_address(netpolld, servers):
    backend = servers(echo_handler)
    port4, port6 = free_port(), free_port("::1")
    d = netpolld(conf_text([f"127.0.0.1:{port4}", f"[::1]:{port6}"], backend.address))

    clients = []
    for host, port in (("127.0.0.1", port4), ("::1", port6)):
        payload = os.urandom(32 * 1024)
        s = connect(port, host)
        clients.append(fmt(s.getsockname()))
        assert exchange(s, payload) == payload
        s.close()

    lines = d.wait_conns(2)
    assert sorted(ln["client"] for ln in lines) == sorted(clients)
    for ln in lines:
        assert (ln["listener"], ln["server"], ln["end"]) == ("front", backend.address, "client_close")


def test_concurrent_random_transfers_arrive_intact(netpolld, servers):
    """200 connections at once, each uploading and downloading up to 2 MiB
    of random bytes in both directions at the same time."""
    n_conns = 200
    master = random.randrange(1 << 31)
    r = random.Random(master)
    sizes = [(r.randint(0, 2 * MiB), r.randint(0, 2 * MiB)) for _ in range(n_conns)]
    sizes[:3] = [(0, r.randint(1, MiB)), (r.randint(1, MiB), 0), (0, 0)]   # edges

    backend = servers(integrity_handler, backlog=n_conns)
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", backend.address))

    results = [None] * n_conns

    def run(i):
        up, down = sizes[i]
        try:
            results[i] = integrity_client(port, up, down, seed=(master + 2 * i) & 0xFFFFFFFE)
        except BaseException as e:  # reported below, with the seed
            results[i] = e

    start = time.monotonic()
    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n_conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.1, 3 * TIMEOUT - (time.monotonic() - start)))
    assert not any(t.is_alive() for t in threads), f"transfers still running (seed {master})"
    failed = [(i, sizes[i], res) for i, res in enumerate(results) if not isinstance(res, tuple)]
    assert not failed, f"seed {master}: {len(failed)} failed, first: {failed[:3]}"
    assert not backend.errors, backend.errors[:3]

    lines = d.wait_conns(n_conns)
    by_client = {ln["client"]: ln for ln in lines}
    assert len(by_client) == n_conns
    for i, local in enumerate(results):
        ln = by_client[fmt(local)]
        up, down = sizes[i]
        assert ln["end"] in ("client_close", "server_close"), ln
        assert int(ln["bytes_in"]) == HEADER.size + up, (i, sizes[i], ln)
        assert int(ln["bytes_out"]) == down + DIGEST_LEN, (i, sizes[i], ln)


def slow_echo_handler(conn):
    """Echoes in odd-sized reads, pausing a little after each."""
    r = random.Random()
    while True:
        b = conn.recv(r.randint(1, 1500))
        if not b:
            break
        conn.sendall(b)
        time.sleep(0.001)
    conn.close()


def narrow(sock, mss=536):
    """A small receive window and small segments for SOCK's peer. The
    proxy's socket facing it then buffers a few dozen KiB (not MiBs), and
    when that fills, its write stops mid-segment: the ring is consumed in
    part and what stays in it straddles the ring's end. (An emptied ring
    restarts at offset 0 and epoll reports a socket writable only while a
    third of its buffer is free, so without this the proxy's writes are
    never short and a ring never wraps.)"""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)   # the minimum: ~2 KiB
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)


def test_small_writes_through_a_tiny_ring_arrive_in_order(netpolld, servers):
    """10,000 writes of 1-100 bytes through 1 KiB rings, echoed back. Both
    ends read slowly through narrow windows, so the proxy's writes are often
    short and the rings wrap around, both ways."""
    backend = servers(slow_echo_handler)
    narrow(backend.sock, mss=256)    # accepted sockets inherit it
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", backend.address, global_={"buffer_size": 1024}))
    r = random.Random()
    pieces = [r.randbytes(r.randint(1, 100)) for _ in range(10_000)]
    expected = b"".join(pieces)

    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    narrow(s, mss=256)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)   # one segment per write
    s.settimeout(TIMEOUT)
    s.connect(("127.0.0.1", port))
    err = []

    def send():
        try:
            for p in pieces:
                s.sendall(p)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append(e)
    t = threading.Thread(target=send, daemon=True)
    t.start()
    got = bytearray()
    while True:
        b = s.recv(r.randint(1, 1500))
        if not b:
            break
        got += b
        time.sleep(0.001)
    t.join(TIMEOUT)
    s.close()
    assert not t.is_alive() and not err, err
    assert len(got) == len(expected)
    assert got == expected

    (line,) = d.wait_conns(1)
    assert (int(line["bytes_in"]), int(line["bytes_out"])) == (len(expected), len(expected))
    assert line["end"] == "client_close"
    assert not backend.errors


def test_large_transfer_through_a_tiny_ring_arrives_intact(netpolld, servers):
    """8 MiB each way at once through 1 KiB rings, with narrow windows on
    both sides so that the rings wrap (see narrow())."""
    backend = servers(integrity_handler)
    narrow(backend.sock)
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", backend.address, global_={"buffer_size": 1024}))

    integrity_client(port, 8 * MiB, 8 * MiB, seed=random.randrange(1 << 31), prepare=narrow)

    (line,) = d.wait_conns(1)
    assert int(line["bytes_in"]) == HEADER.size + 8 * MiB
    assert int(line["bytes_out"]) == 8 * MiB + DIGEST_LEN
    assert line["end"] == "client_close"
    assert not backend.errors
