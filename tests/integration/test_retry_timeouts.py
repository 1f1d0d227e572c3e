"""Failed connects, retries, connect timeouts and idle timeouts: which
server a connection ends up on, what the client sees, and what the
connection log line says about it."""
import re
import socket
import threading
import time

import pytest

from conftest import (TIMEOUT, conf_text, connect, free_port, recv_all, recv_exactly,
                      wait_until)


def counting_echo(received, lock):
    """An echo handler that also records, per connection, every byte the
    server received (to prove early bytes arrive exactly once)."""
    def handler(conn):
        got = bytearray()
        while True:
            b = conn.recv(1 << 16)
            if not b:
                break
            got += b
            conn.sendall(b)
        with lock:
            received.append(bytes(got))
        conn.close()
    return handler


def eof_or_reset(sock, timeout=TIMEOUT):
    """Waits for the proxy to close SOCK; returns b"" on EOF, "reset" on RST."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(1 << 16)
    except ConnectionResetError:
        return "reset"
    return data


def connect_warnings(log, address):
    """{session id: message} for each failed connect to ADDRESS."""
    rx = re.compile(r"session (\d+): connect to " + re.escape(address) + r": (.*)$")
    out = {}
    for line in log.splitlines():
        m = rx.search(line)
        if m:
            out.setdefault(int(m.group(1)), []).append(m.group(2))
    return out


def test_refused_server_is_retried_on_the_live_one_and_early_bytes_arrive_once(
        netpolld, servers, refused):
    received, lock = [], threading.Lock()
    live = servers(counting_echo(received, lock))
    dead = refused()
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", [dead, live.address],
                           backend={"retries": 1, "connect_timeout": '"5s"'}))
    n = 8
    sent = []
    for i in range(n):
        msg = (f"early bytes of connection {i};".encode()) * 50
        s = connect(port)
        # Sent at once after connect() returns, so usually read while the
        # proxy is still connecting (the blackhole test below makes that
        # certain).
        s.sendall(msg)
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s) == msg
        s.close()
        sent.append(msg)

    lines = d.wait_conns(n)
    assert len(lines) == n
    wait_until(lambda: len(received) == n, what="the live server to see every connection end")
    # Exactly once: the server saw each message once, never a duplicate
    # prefix from a connect attempt that failed.
    assert sorted(received) == sorted(sent)
    assert live.errors == []

    for ln, msg in zip(sorted(lines, key=lambda x: int(x["conn"])), sent):
        assert ln["server"] == live.address, ln
        assert ln["end"] == "client_close", ln
        assert ln["retries"] in ("0", "1"), ln
        assert int(ln["bytes_in"]) == len(msg) and int(ln["bytes_out"]) == len(msg), ln

    # Round-robin puts some connections on the refused server first; those
    # and only those were retried, each after one warning naming it.
    warned = connect_warnings(d.log(), dead)
    retried = {int(ln["conn"]) for ln in lines if ln["retries"] == "1"}
    assert retried, "no connection was tried on the refused server first"
    assert set(warned) == retried
    for msgs in warned.values():
        assert msgs == ["Connection refused; trying the next server"]
    assert all(" warn " in ln for ln in d.log().splitlines() if f"connect to {dead}" in ln)


def test_round_robin_turns_are_not_taken_by_retries(netpolld, servers, refused):
    """Round-robin rotates the first choice from one connection to the
    next. A retry is this connection's business: if it also advanced the
    shared rotation, then in a pool of [dead, live] every connection
    would start on the dead server and pay a failed connect (a whole
    connect_timeout if the dead one drops SYNs), instead of every other."""
    live = servers()
    dead = refused()
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", [dead, live.address],
                           backend={"retries": 1}))
    # Four: the third failed connect marks the dead server down (passive
    # health, tested on its own), and then no connection tries it first.
    n = 4
    for i in range(n):          # one after the other: the order is the turn
        s = connect(port)
        s.sendall(b"turn %d" % i)
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s) == b"turn %d" % i
        s.close()
        d.wait_conns(i + 1)
    lines = sorted(d.conn_lines(), key=lambda ln: int(ln["conn"]))
    assert all(ln["server"] == live.address and ln["end"] == "client_close" for ln in lines)
    retries = [ln["retries"] for ln in lines]
    assert retries.count("1") == n // 2 and retries.count("0") == n // 2, (
        f"first choices do not alternate: retries per connection {retries}")


def test_early_bytes_survive_a_connect_timeout_retry_exactly_once(
        netpolld, servers, blackhole):
    """The stronger form of the above: the first server never answers, so
    the client's bytes are certainly read while the proxy is connecting,
    kept across the failed attempt and delivered once to the second."""
    received, lock = [], threading.Lock()
    live = servers(counting_echo(received, lock))
    hole = blackhole()
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", [hole.address, live.address],
                           backend={"retries": 1, "connect_timeout": '"300ms"'}))
    msg = b"sent while the proxy waits for a silent server\n" * 200
    s = connect(port)
    s.sendall(msg)
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == msg
    s.close()
    (ln,) = d.wait_conns(1)
    assert ln["server"] == live.address and ln["retries"] == "1", ln
    assert ln["end"] == "client_close", ln
    assert int(ln["connect_ms"]) >= 300, ln
    assert int(ln["bytes_in"]) == len(msg), ln
    wait_until(lambda: received, what="the live server to see the connection end")
    assert received == [msg]
    assert connect_warnings(d.log(), hole.address) == {
        1: ["Connection timed out; trying the next server"]}


@pytest.mark.parametrize("where", ["backend", "defaults"])
def test_retries_exhausted_closes_the_client_with_connect_refused(
        netpolld, refused, where):
    dead = [refused(), refused()]
    port = free_port()
    retries = {"retries": 2}
    if where == "backend":
        text = conf_text(f"127.0.0.1:{port}", dead, backend=retries)
    else:
        text = conf_text(f"127.0.0.1:{port}", dead, defaults=retries)
    d = netpolld(text)
    s = connect(port)
    started = time.monotonic()
    assert eof_or_reset(s) in (b"", "reset")
    assert time.monotonic() - started < TIMEOUT
    s.close()
    (ln,) = d.wait_conns(1)
    assert ln["end"] == "connect_refused", ln
    assert ln["server"] == "-", ln
    assert ln["retries"] == "2", ln
    assert ln["bytes_in"] == "0" and ln["bytes_out"] == "0", ln
    # Three attempts in round-robin order: a, b, a; the last gives up.
    log = d.log()
    a, b = connect_warnings(log, dead[0]), connect_warnings(log, dead[1])
    assert a == {1: ["Connection refused; trying the next server", "Connection refused"]}
    assert b == {1: ["Connection refused; trying the next server"]}


@pytest.mark.parametrize("retries", [0, 1])
def test_connect_timeout_ends_the_session_long_before_the_idle_timeout(
        netpolld, blackhole, retries):
    holes = [blackhole() for _ in range(retries + 1)]
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", [h.address for h in holes],
                           listener={"idle_timeout": '"1h"'},
                           backend={"connect_timeout": '"500ms"', "retries": retries}))
    s = connect(port)
    started = time.monotonic()
    s.sendall(b"waiting for a server that never answers")
    assert eof_or_reset(s) in (b"", "reset")
    elapsed = time.monotonic() - started
    s.close()
    # Not before the connect timeout (once per attempt), and within a
    # small multiple of it: the idle timeout of an hour is not what
    # closed it.
    attempts = retries + 1
    assert 0.45 * attempts <= elapsed < 0.5 * attempts + 5.0, elapsed
    (ln,) = d.wait_conns(1)
    assert ln["end"] == "connect_timeout", ln
    assert ln["server"] == "-", ln
    assert ln["retries"] == str(retries), ln
    assert 500 * attempts <= int(ln["connect_ms"]) < 500 * attempts + 5000, ln
    assert int(ln["duration_ms"]) < 500 * attempts + 5000, ln
    assert ln["bytes_in"] == "0", ln
    log = d.log()
    for k, h in enumerate(holes):
        last = k == retries
        assert connect_warnings(log, h.address) == {
            1: ["Connection timed out" + ("" if last else "; trying the next server")]}


def test_idle_timeout_closes_a_silent_connection_but_not_an_active_one(netpolld, servers):
    echo = servers()
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", echo.address,
                           listener={"idle_timeout": '"1s"'},
                           backend={"connect_timeout": '"5s"'}))
    silent = connect(port)
    active = connect(port)
    silent.sendall(b"one message")
    assert recv_exactly(silent, 11) == b"one message"
    silent_since = time.monotonic()

    # The active connection moves a byte every 200 ms for 2.5 s: its idle
    # clock keeps being reset, and it must survive.
    deadline = time.monotonic() + 2.5
    i = 0
    while time.monotonic() < deadline:
        b = bytes([65 + i % 26])
        active.sendall(b)
        assert recv_exactly(active, 1, timeout=5) == b
        i += 1
        time.sleep(0.2)     # pacing the traffic, not waiting for anything

    # Meanwhile the silent one was closed by the proxy: EOF, not a timeout.
    assert recv_all(silent, timeout=5) == b""
    silent.close()
    lines = d.wait_conns(1)
    (idle,) = [ln for ln in lines if ln["end"] == "idle_timeout"]
    assert int(idle["duration_ms"]) >= 1000, idle
    assert int(idle["duration_ms"]) < 1000 + 2500 + 1000, idle
    assert idle["bytes_in"] == "11" and idle["bytes_out"] == "11", idle
    assert time.monotonic() - silent_since >= 0.9

    # The active one still relays after 2.5 s, then ends as the client says.
    active.sendall(b"still here")
    assert recv_exactly(active, 10) == b"still here"
    active.shutdown(socket.SHUT_WR)
    assert recv_all(active) == b""
    active.close()
    lines = d.wait_conns(2)
    (act,) = [ln for ln in lines if ln["conn"] != idle["conn"]]
    assert act["end"] == "client_close", act
    assert int(act["duration_ms"]) >= 2500, act
    assert int(act["bytes_in"]) == i + 10, act


@pytest.mark.parametrize("defaults_idle, listener_idle, closes", [
    ('"1s"', None, True),       # the listener inherits defaults
    ('"1s"', '"1h"', False),    # the listener's own value wins ...
    ('"1h"', '"1s"', True),     # ... in both directions
])
def test_idle_timeout_from_defaults_applies_unless_the_listener_sets_one(
        netpolld, servers, defaults_idle, listener_idle, closes):
    echo = servers()
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", echo.address,
                           defaults={"idle_timeout": defaults_idle},
                           listener={"idle_timeout": listener_idle} if listener_idle else None))
    s = connect(port)
    s.sendall(b"hello")
    assert recv_exactly(s, 5) == b"hello"
    if closes:
        assert recv_all(s, timeout=10) == b""
        s.close()
        (ln,) = d.wait_conns(1)
        assert ln["end"] == "idle_timeout", ln
        assert 1000 <= int(ln["duration_ms"]) < 10000, ln
    else:
        # Twice the defaults' value in silence, and the proxy kept it open.
        s.settimeout(2.0)
        with pytest.raises(socket.timeout):
            s.recv(1)
        assert d.conn_lines() == []
        s.sendall(b"again")
        assert recv_exactly(s, 5) == b"again"
        s.close()
        (ln,) = d.wait_conns(1)
        assert ln["end"] == "client_close", ln
        assert int(ln["duration_ms"]) >= 2000, ln


@pytest.mark.parametrize("defaults_ct, backend_ct, expect_ms", [
    ('"300ms"', None, 300),     # the backend inherits defaults
    ('"1h"', '"300ms"', 300),   # the backend's own value wins
])
def test_connect_timeout_from_defaults_applies_unless_the_backend_sets_one(
        netpolld, blackhole, defaults_ct, backend_ct, expect_ms):
    hole = blackhole()
    port = free_port()
    backend = {"retries": 0}
    if backend_ct:
        backend["connect_timeout"] = backend_ct
    d = netpolld(conf_text(f"127.0.0.1:{port}", hole.address,
                           defaults={"connect_timeout": defaults_ct}, backend=backend))
    s = connect(port)
    assert eof_or_reset(s, timeout=10) in (b"", "reset")
    s.close()
    (ln,) = d.wait_conns(1)
    assert ln["end"] == "connect_timeout", ln
    assert expect_ms <= int(ln["connect_ms"]) < expect_ms + 5000, ln


def small_window_client(port):
    """A client whose receive window is small, so that what the proxy
    writes to it waits in the proxy's send queue, not in ours."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(TIMEOUT)
    s.connect(("127.0.0.1", port))
    return s


def test_a_slow_client_draining_the_send_queue_is_not_idle(netpolld, servers):
    """The server sends everything and closes; the proxy has written it
    all into the kernel's send queue and moves nothing more. The client
    takes it a little at a time for several idle periods: bytes leaving
    that queue are activity, so the connection ends with the client's
    FIN, every byte delivered, not with idle_timeout."""
    payload = bytes(range(256)) * 4096          # 1 MiB

    def send_and_close(conn):
        conn.sendall(payload)
        conn.close()

    server = servers(send_and_close)
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", server.address,
                           listener={"idle_timeout": '"2s"'}))
    s = small_window_client(port)
    got = bytearray()
    started = time.monotonic()
    # About 100 KiB/s: ten seconds for the whole, five idle periods. A
    # pause of 2 s between two reads would be a real idle period.
    while len(got) < len(payload) and time.monotonic() - started < 60:
        chunk = s.recv(2048)
        if not chunk:
            break
        got += chunk
        time.sleep(0.02)
    assert bytes(got) == payload, f"{len(got)} of {len(payload)} bytes"
    assert time.monotonic() - started > 4, "the proxy's queue held too little to test"
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b""
    s.close()
    (line,) = d.wait_conns(1)
    assert line["end"] == "server_close", line
    assert line["bytes_out"] == str(len(payload)), line


def test_a_client_that_takes_nothing_is_idle_though_bytes_wait_for_it(netpolld, servers):
    """The other side of the rule above: bytes waiting in the send queue
    for a reader that has stopped are no activity, and idle_timeout
    still ends the connection."""
    hold = threading.Event()

    def send_and_wait(conn):
        try:
            conn.sendall(bytes(1 << 20))
        except OSError:
            pass            # the proxy gave up on the stalled client
        hold.wait(TIMEOUT)
        conn.close()

    server = servers(send_and_wait)
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", server.address,
                           listener={"idle_timeout": '"4s"'}))
    s = small_window_client(port)
    try:
        (line,) = d.wait_conns(1)
    finally:
        hold.set()
        s.close()
    assert line["end"] == "idle_timeout", line
    assert int(line["duration_ms"]) >= 4000, line
    # It looks for a moment (a second) whether the client takes anything,
    # not for a whole second idle period (8 s).
    assert int(line["duration_ms"]) < 7000, line
