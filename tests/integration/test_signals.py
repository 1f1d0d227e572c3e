"""Signals: SIGTERM and SIGINT stop gracefully (listeners first, open
connections may finish within shutdown_timeout), a second one stops at
once, SIGHUP reloads without touching open connections, and a storm of
signals costs no byte."""
import hashlib
import signal
import socket
import threading
import time

import pytest

from conftest import TIMEOUT, conf_text, connect, free_port, recv_all, recv_exactly, wait_until


def refused_now(port):
    """True once a connect is refused. A connect that still gets through
    (the listener was not closed yet) is closed again at once."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
    except ConnectionRefusedError:
        return True
    s.close()
    return False


def assert_closed_by_proxy(s):
    """The client sees the proxy close its side (FIN, or a reset when the
    proxy closed with our bytes unread), then closes."""
    try:
        assert recv_all(s, timeout=5) == b""
    except ConnectionResetError:
        pass
    s.close()


def echo_roundtrip(s, data):
    s.sendall(data)
    assert recv_exactly(s, len(data)) == data


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_with_no_connection_exits_0_at_once(netpolld, servers, sig):
    echo = servers()
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", echo.address,
                           global_={"shutdown_timeout": '"1h"'}))
    started = time.monotonic()
    d.signal(sig)
    assert d.wait_exit() == 0
    assert time.monotonic() - started < 5
    log = d.log()
    assert log.rstrip().endswith(" info stopped"), log
    assert "waiting up to" not in log
    assert refused_now(port)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_graceful_stop_refuses_new_connections_and_lets_open_ones_finish(
        netpolld, servers, sig):
    echo = servers()
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", echo.address,
                           global_={"shutdown_timeout": '"1h"'}))
    s = connect(port)
    client = "%s:%d" % s.getsockname()
    echo_roundtrip(s, b"before the signal")
    d.signal(sig)
    name = "SIGTERM" if sig == signal.SIGTERM else "SIGINT"
    d.wait_log(rf" info {name}: stopping gracefully$")
    wait_until(lambda: refused_now(port), what="new connections to be refused")

    # The open connection still relays, both ways, for as long as it likes.
    for i in range(5):
        echo_roundtrip(s, b"after the signal %d " % i * 100)
    assert d.proc.poll() is None
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b""
    s.close()

    assert d.wait_exit() == 0
    (ln,) = [ln for ln in d.conn_lines() if ln["client"] == client]
    assert ln["end"] == "client_close", ln
    assert int(ln["bytes_in"]) == 17 + sum(len(b"after the signal %d " % i * 100)
                                           for i in range(5))
    assert ln["bytes_in"] == ln["bytes_out"]
    assert d.log().rstrip().endswith(" info stopped")


def test_shutdown_timeout_closes_what_is_left_and_exits_0(netpolld, servers):
    echo = servers()
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", echo.address,
                           global_={"shutdown_timeout": '"1s"'},
                           listener={"idle_timeout": '"1h"'}))
    s = connect(port)
    echo_roundtrip(s, b"then silence")
    started = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.wait_exit() == 0
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 1.0 + 5, elapsed
    assert_closed_by_proxy(s)
    (ln,) = d.conn_lines()
    assert ln["end"] == "shutdown", ln
    assert 1000 <= int(ln["duration_ms"]), ln
    assert "shutdown_timeout reached: closing 1 connections" in d.log()


@pytest.mark.parametrize("first, second", [(signal.SIGTERM, signal.SIGTERM),
                                           (signal.SIGTERM, signal.SIGINT),
                                           (signal.SIGINT, signal.SIGTERM)])
def test_second_stop_signal_ends_the_graceful_stop_at_once(netpolld, servers, first, second):
    echo = servers()
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", echo.address,
                           global_={"shutdown_timeout": '"1h"'}))
    s = connect(port)
    echo_roundtrip(s, b"open")
    d.signal(first)
    d.wait_log(r"stopping gracefully$")
    d.wait_log(r"waiting up to 3600000 ms for 1 connections")
    assert d.proc.poll() is None
    started = time.monotonic()
    d.signal(second)
    assert d.wait_exit(timeout=10) == 0
    assert time.monotonic() - started < 10
    second_name = "SIGTERM" if second == signal.SIGTERM else "SIGINT"
    assert f" info {second_name} again: stopping now\n" in d.log()
    assert_closed_by_proxy(s)
    (ln,) = d.conn_lines()
    assert ln["end"] == "shutdown", ln


def test_sighup_reloads_and_leaves_open_connections_alone(netpolld, servers):
    echo = servers()
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", echo.address))
    s = connect(port)
    echo_roundtrip(s, b"before HUP")
    d.signal(signal.SIGHUP)
    d.wait_log(r" info reload: generation 1 serving")
    assert d.proc.poll() is None
    # The open connection is untouched, and new ones are accepted.
    echo_roundtrip(s, b"after HUP")
    t = connect(port)
    echo_roundtrip(t, b"new after HUP")
    t.close()
    s.close()
    lines = d.wait_conns(2)
    assert sorted(ln["end"] for ln in lines) == ["client_close", "client_close"]
    assert "stopping" not in d.log()
    assert d.proc.poll() is None


def test_signal_storm_loses_no_bytes(netpolld, servers):
    echo = servers()
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", echo.address))
    baseline = d.fd_count()
    nconns, chunk = 4, 16384
    storm_over = threading.Event()
    results, errors = {}, []

    def pump(i):
        """Relays chunks until the storm is over (so the two overlap by
        construction), then half-closes and checks what came back."""
        try:
            s = connect(port)
            sent, got = hashlib.sha256(), hashlib.sha256()
            nsent = nrecv = 0

            def reader():
                nonlocal nrecv
                s.settimeout(TIMEOUT)
                while True:
                    b = s.recv(1 << 16)
                    if not b:
                        return
                    got.update(b)
                    nrecv += len(b)
            rt = threading.Thread(target=reader)
            rt.start()
            k = 0
            while not storm_over.is_set() or nsent < (1 << 20):
                data = hashlib.sha256(b"%d-%d" % (i, k)).digest() * (chunk // 32)
                s.sendall(data)
                sent.update(data)
                nsent += len(data)
                k += 1
            s.shutdown(socket.SHUT_WR)
            rt.join(TIMEOUT)
            assert not rt.is_alive(), "no EOF after the half-close"
            s.close()
            results[i] = (nsent, nrecv, sent.hexdigest(), got.hexdigest())
        except Exception as e:
            errors.append(e)

    pumps = [threading.Thread(target=pump, args=(i,)) for i in range(nconns)]
    for t in pumps:
        t.start()
    try:
        wait_until(lambda: d.fd_count() >= baseline + 2 * nconns,
                   what="every connection to be relaying")
        # The storm: each signal interrupts whatever system call the loop
        # is in (EINTR), and wakes it through the self-pipe.
        for _ in range(50):
            d.signal(signal.SIGHUP)
            time.sleep(0.002)   # a row of separate signals, not one merged
    finally:
        storm_over.set()
        for t in pumps:
            t.join(TIMEOUT * 2)
    assert errors == []
    assert sorted(results) == list(range(nconns))
    for i, (nsent, nrecv, sent, got) in results.items():
        assert nrecv == nsent and got == sent, (i, nsent, nrecv)
    lines = d.wait_conns(nconns)
    by_bytes = sorted(int(ln["bytes_in"]) for ln in lines)
    assert by_bytes == sorted(r[0] for r in results.values())
    assert all(ln["end"] == "client_close" and ln["bytes_in"] == ln["bytes_out"]
               for ln in lines), lines
    d.wait_log(r" info reload: generation \d+ serving")
    # Signals coalesce, and a reload asked for during one runs once after
    # it: at most one reload per signal, at least one.
    hups = d.wait_log(r" info SIGHUP: reloading")
    assert 1 <= len(hups) <= 50
    assert "reload failed" not in d.log()
    assert d.proc.poll() is None
