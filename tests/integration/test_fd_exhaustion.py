"""Running out of file descriptors: the proxy keeps serving what it has,
rests its listeners instead of spinning on accept(), says so once, and
takes the clients still queued in the backlog as soon as descriptors free
up: none of them is accepted only to be dropped."""
import os
import resource
import select
import time

import pytest

from conftest import TIMEOUT, conf_text, connect, free_port, recv_exactly, wait_until

CLIENTS = 80
# Either cause: the connection limit derived from the open-file limit, or
# accept()/socket() failing with EMFILE all the same.
PAUSE_RX = r" warn accept: .*; pausing accepts$"


def cpu_seconds(pid):
    """utime + stime of PID, in seconds (/proc/PID/stat fields 14, 15)."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def hello(i):
    return b"hello from client %03d\n" % i


def served_among(clients, pending, want, timeout=TIMEOUT, dropped=None):
    """Waits until WANT of the clients in PENDING have read their echo;
    gives up after TIMEOUT. Returns the indices served. A client that sees
    EOF or a reset instead fails the test, unless DROPPED (a set) is given
    to collect such clients."""
    ready = set()
    deadline = time.monotonic() + timeout
    while len(ready) < want:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        socks = [clients[i] for i in pending - ready - (dropped or set())]
        r, _, _ = select.select(socks, [], [], min(left, 0.1))
        for s in r:
            i = clients.index(s)
            try:
                got = recv_exactly(s, len(hello(i)), timeout=5)
            except (ConnectionResetError, AssertionError) as e:
                if dropped is None:
                    raise AssertionError(f"client {i} was dropped instead of served: {e!r}")
                dropped.add(i)
                continue
            assert got == hello(i), (i, got)
            ready.add(i)
    return ready


def start_limited(netpolld, servers, limit):
    """An echo backend behind a daemon whose RLIMIT_NOFILE is LIMIT (soft
    and hard: netpolld raises soft to hard). Returns the daemon, the
    backend, the listen port, the daemon's own fd count, and how many
    connections (two descriptors each) fit beside them."""
    echo = servers()
    port = free_port()

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    d = netpolld(conf_text(f"127.0.0.1:{port}", echo.address,
                           backend={"retries": 2}), preexec_fn=low_limit)
    baseline = d.fd_count()
    # The daemon says how many connections its open-file limit carries;
    # that budget must fit in the descriptors it really has left.
    capacity = int(d.wait_log(r"info connection limit \d+ \(open-file limit %d\)" % limit)[0]
                   .split("connection limit ")[1].split()[0])
    assert capacity <= (limit - baseline) // 2, (baseline, capacity)
    assert 10 <= capacity < CLIENTS, (baseline, capacity)
    return d, echo, port, baseline, capacity


def open_clients(port):
    """CLIENTS connections, each having sent its hello. Every connect
    succeeds: the kernel queues what the proxy cannot take yet."""
    clients = []
    for i in range(CLIENTS):
        s = connect(port)
        s.sendall(hello(i))
        clients.append(s)
    return clients


# Two limits one apart: whatever the daemon's own descriptors, one of them
# leaves an odd count free, so that at some point an accepted client finds
# no descriptor left for its server connection.
@pytest.mark.parametrize("limit", [64, 65])
def test_out_of_fds_pauses_accepts_without_crash_or_spin(netpolld, servers, limit):
    d, echo, port, baseline, capacity = start_limited(netpolld, servers, limit)
    clients = open_clients(port)
    everyone = set(range(CLIENTS))
    try:
        wait_until(lambda: echo.accepted >= capacity,
                   what=f"{capacity} connections to reach the server")
        first_pause = time.monotonic()
        assert len(d.wait_log(PAUSE_RX)) == 1, d.log()
        # (Whether a queued client may be dropped meanwhile is the next
        # test's business; this one is about surviving and not spinning.)
        served = served_among(clients, everyone, capacity, dropped=set())
        assert len(served) == capacity, (len(served), capacity)

        # No spinning while saturated: the loop sleeps until a session
        # closes or its pause ends, it does not retry accept() in a loop.
        cpu0, t0 = cpu_seconds(d.pid), time.monotonic()
        time.sleep(2.0)     # the measurement window, not a synchronisation
        cpu = cpu_seconds(d.pid) - cpu0
        window = time.monotonic() - t0
        assert cpu < 0.5, f"{cpu:.2f}s of CPU in {window:.2f}s while out of descriptors"
        assert d.proc.poll() is None
        assert echo.accepted == capacity

        # The established connections still relay, both ways.
        for i in sorted(served):
            msg = b"still relaying %d\n" % i
            clients[i].sendall(msg)
            assert recv_exactly(clients[i], len(msg)) == msg

        # One warning, not one per attempt (at most one per ten seconds).
        pauses = d.wait_log(PAUSE_RX)
        assert len(pauses) <= 1 + int((time.monotonic() - first_pause) / 10), pauses
    finally:
        for s in clients:
            s.close()

    # Every client leaves. The queued ones, closed before the proxy took
    # them, are still accepted and relayed (hello, then EOF) as capacity
    # comes back: one line per connection, and nothing held afterwards.
    lines = d.wait_conns(CLIENTS)
    assert len(lines) == CLIENTS
    wait_until(lambda: d.fd_count() == baseline, what="every descriptor back")
    assert "08" not in d.socket_states()

    # And new connections work again.
    s = connect(port)
    s.sendall(b"after the storm")
    assert recv_exactly(s, 15) == b"after the storm"
    s.close()
    assert d.proc.poll() is None
    assert len(d.wait_conns(CLIENTS + 1)) == CLIENTS + 1


@pytest.mark.parametrize("limit", [64, 65])
def test_out_of_fds_queued_clients_wait_instead_of_being_dropped(netpolld, servers, limit):
    """A client the proxy has no descriptors for stays in the kernel's
    backlog until it can be served (as relayd, nginx and HAProxy do with
    a descriptor reserve); it is never accepted only to be closed."""
    d, echo, port, baseline, capacity = start_limited(netpolld, servers, limit)
    clients = open_clients(port)
    everyone = set(range(CLIENTS))
    try:
        served = served_among(clients, everyone, capacity)
        assert len(served) == capacity, (len(served), capacity)
        d.wait_log(PAUSE_RX)
        # Nobody has closed anything yet: a connection line now means the
        # proxy accepted a queued client and then gave up on it.
        assert d.conn_lines() == [], "a queued client was accepted and dropped:\n" + d.log()
        waiting = everyone - served
        r, _, _ = select.select([clients[i] for i in waiting], [], [], 0)
        assert r == [], "waiting clients saw EOF or data while the proxy was full"

        # As descriptors free up, the queued clients are taken in turn:
        # every one of them is served in the end.
        while waiting:
            for i in served:
                clients[i].close()
            want = min(capacity, len(waiting))
            served = served_among(clients, waiting, want)
            dropped = [ln for ln in d.conn_lines() if ln["end"] != "client_close"]
            assert not dropped, f"queued clients dropped: {dropped[:3]}"
            assert len(served) == want, \
                f"{len(waiting)} queued clients, {len(served)} served:\n{d.log()[-3000:]}"
            waiting -= served
    finally:
        for s in clients:
            s.close()
    lines = d.wait_conns(CLIENTS)
    assert len(lines) == CLIENTS
    assert all(ln["end"] == "client_close" and ln["server"] == echo.address
               for ln in lines), [ln for ln in lines if ln["end"] != "client_close"][:5]
    wait_until(lambda: d.fd_count() == baseline, what="every descriptor back")
