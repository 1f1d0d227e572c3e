"""Health of servers (SPEC "Behaviour users rely on": a server that fails
its health check receives no new connections until it passes again;
established connections are not cut; "Reload": a server keeps its
health state) against the real daemon: active connect checks take a
dead server DOWN (log, `show stat` status and health, /metrics) and
bring it back UP when it listens again; a connection open to a server
marked DOWN goes on across DOWN and UP; the state survives a reload and
the checks go on in the new generation; checks of one backend are
spread over the interval; and without health_check, failed connects
mark a server DOWN and it is skipped, then given a trial.

Checks here run every 200 ms with fall 2 and rise 2; every wait has a
generous bound and nothing asserts how long a transition took."""
import re
import signal
import socket
import threading
import time

from conftest import TIMEOUT, free_port, hostport, recv_exactly, wait_until
from test_balance import Pool, counts, http_get_ok, metric, tagged

CHECK = {"interval": "200ms", "timeout": "100ms", "rise": 2, "fall": 2}


def down_line(p, tag, reason="connect refused"):
    return rf"server pool/{re.escape(p.addr(tag))} is DOWN: {re.escape(reason)}"


def up_line(p, tag, reason="check passed"):
    return rf"server pool/{re.escape(p.addr(tag))} is UP: {re.escape(reason)}"


def lines_matching(p, pattern):
    return [ln for ln in p.d.log().splitlines() if re.search(pattern, ln)]


def exchange(sock, data=b"ping"):
    """DATA through an established connection and back (echo)."""
    sock.sendall(data)
    return recv_exactly(sock, len(data))


def hold_on(p, tag, limit=20):
    """A connection held open to TAG's server; the others made on the
    way are closed."""
    for _ in range(limit):
        s, t = p.hold()
        if t == tag:
            return s
        s.close()
    raise AssertionError(f"no connection reached {tag} in {limit} tries")


def server_up_metric(p, tag):
    return metric(http_get_ok(p.mport, "/metrics"), "netpolld_server_up", backend="pool",
                  server=p.addr(tag))


class Keeper:
    """A tagged echo server whose listening socket can be closed and
    opened again on the same port while the connections it accepted go
    on: to its health checks it is dead, to those connections alive."""

    def __init__(self, tag, host="127.0.0.1"):
        self.tag = tag
        self.host = host
        self.port = 0
        self.conns = []
        self.accepted = 0
        self.lock = threading.Lock()
        self.sock = None
        self.listen()

    @property
    def address(self):
        return hostport(self.host, self.port)

    def listen(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.listen(128)
        self.port = s.getsockname()[1]
        self.sock = s
        threading.Thread(target=self._accept_loop, args=(s,), daemon=True).start()

    def _accept_loop(self, lsock):
        handler = tagged(self.tag)
        while True:
            try:
                conn, _ = lsock.accept()
            except OSError:
                return
            conn.settimeout(TIMEOUT)
            with self.lock:
                self.accepted += 1
                self.conns.append(conn)
            threading.Thread(target=handler, args=(conn,), daemon=True).start()

    def unlisten(self):
        """Closes the listening socket only."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def close(self):
        self.unlisten()
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass


# ---- active checks ------------------------------------------------------------------

def test_a_killed_server_goes_down_and_comes_back_up_when_restarted(netpolld, servers,
                                                                   tmp_path):
    p = Pool(netpolld, servers, tmp_path, metrics=True, backend={"health_check": CHECK})
    wait_until(lambda: all(p.row(t)["health"] == "ok" for t in p.tags), what="first checks ok")
    assert (server_up_metric(p, b"a"), server_up_metric(p, b"b")) == (1, 1)
    kept = hold_on(p, b"b")          # survives everything below
    assert exchange(kept) == b"ping"

    port = p.servers[b"a"].port
    p.servers[b"a"].close()          # its port now refuses
    p.d.wait_log(down_line(p, b"a"))
    row = p.row(b"a")
    assert (row["status"], row["health"]) == ("DOWN", "connect refused")
    assert p.row(b"b")["status"] == "UP"
    assert (server_up_metric(p, b"a"), server_up_metric(p, b"b")) == (0, 1)
    assert p.rows()[("backend", "pool")]["status"] == "UP"

    # Meanwhile every new connection goes to b, without a failed try at a.
    n = p.quiesce(1)
    assert counts(p.visit() for _ in range(6)) == {b"b": 6}
    lines = sorted(p.settle(n + 6), key=lambda c: int(c["conn"]))[-6:]
    assert [(c["server"], c["retries"]) for c in lines] == [(p.addr(b"b"), "0")] * 6
    assert exchange(kept, b"during") == b"during"

    p.servers[b"a"] = servers(handler=tagged(b"a"), port=port)
    p.d.wait_log(up_line(p, b"a"))
    row = p.row(b"a")
    assert (row["status"], row["health"]) == ("UP", "ok")
    assert server_up_metric(p, b"a") == 1
    assert counts(p.visit() for _ in range(6)) == {b"a": 3, b"b": 3}
    assert exchange(kept, b"after") == b"after"
    assert len(lines_matching(p, down_line(p, b"a"))) == 1
    assert len(lines_matching(p, up_line(p, b"a"))) == 1
    kept.close()


def test_a_connection_to_a_server_marked_down_goes_on_across_down_and_up(netpolld, servers,
                                                                        tmp_path):
    """The server stops listening (its checks fail) but keeps serving the
    connection it has: the proxy does not cut it when it marks the
    server DOWN, nor when it brings it back UP."""
    keeper = Keeper(b"a")
    try:
        p = Pool(netpolld, servers, tmp_path, given={b"a": keeper},
                 backend={"health_check": CHECK})
        kept = hold_on(p, b"a")
        assert exchange(kept, b"before") == b"before"

        keeper.unlisten()
        p.d.wait_log(down_line(p, b"a"))
        row = p.row(b"a")
        assert (row["status"], row["cur"]) == ("DOWN", "1")
        assert exchange(kept, b"while down") == b"while down"
        assert counts(p.visit() for _ in range(4)) == {b"b": 4}
        assert exchange(kept, b"still") == b"still"

        keeper.listen()                  # the same port again
        p.d.wait_log(up_line(p, b"a"))
        assert exchange(kept, b"after up") == b"after up"
        assert b"a" in {p.visit() for _ in range(4)}
        client = "%s:%d" % kept.getsockname()
        kept.close()
        wait_until(lambda: p.row(b"a")["cur"] == "0", what="the kept connection's close")
        p.quiesce(0)
        (end,) = [c for c in p.d.conn_lines() if c["client"] == client]
        assert (end["server"], end["end"]) == (p.addr(b"a"), "client_close")
        assert int(end["bytes_in"]) == len(b"before" b"while down" b"still" b"after up")
    finally:
        keeper.close()


def test_health_state_is_kept_across_a_reload_and_the_checks_go_on(netpolld, servers,
                                                                   tmp_path):
    p = Pool(netpolld, servers, tmp_path, backend={"health_check": CHECK})
    port = p.servers[b"a"].port
    p.servers[b"a"].close()
    p.d.wait_log(down_line(p, b"a"))

    p.d.signal(signal.SIGHUP)        # the same file
    p.d.wait_log(r"reload: generation 1 serving")
    row = p.row(b"a")
    assert (row["status"], row["health"]) == ("DOWN", "connect refused")

    # Several rounds of checks of the new generation (each check of b is
    # an accept there): a stays DOWN, with no UP and no second DOWN line
    # (a second one would mean its state had been reset to UP).
    seen = p.servers[b"b"].accepted
    wait_until(lambda: p.servers[b"b"].accepted >= seen + 4, what="checks in generation 1")
    assert p.row(b"a")["status"] == "DOWN"
    assert lines_matching(p, up_line(p, b"a")) == []
    assert len(lines_matching(p, down_line(p, b"a"))) == 1
    assert counts(p.visit() for _ in range(4)) == {b"b": 4}

    p.servers[b"a"] = servers(handler=tagged(b"a"), port=port)
    p.d.wait_log(up_line(p, b"a"))
    assert p.row(b"a")["status"] == "UP"
    assert b"a" in {p.visit() for _ in range(4)}


def test_checks_of_one_backend_are_spread_over_the_interval(netpolld, servers, tmp_path):
    """Three servers, interval 4 s: the first checks come one after the
    other, about a third of the interval apart, not all at once. (The
    bound is loose: half of the expected spread.)"""
    first = {}
    lock = threading.Lock()

    def recorder(tag):
        inner = tagged(tag)

        def handle(conn):
            with lock:
                first.setdefault(tag, time.monotonic())
            inner(conn)
        return handle

    tags = (b"a", b"b", b"c")
    made = {t: servers(handler=recorder(t)) for t in tags}
    p = Pool(netpolld, servers, tmp_path, tags=tags, given=made,
             backend={"health_check": {"interval": "4s", "timeout": "1s"}})
    wait_until(lambda: len(first) == 3, what="a first check of every server")
    assert sorted(first, key=first.get) == list(tags), first
    assert first[b"c"] - first[b"a"] >= 4.0 * 2 / 3 / 2, first
    wait_until(lambda: all(p.row(t)["health"] == "ok" for t in tags), what="checks ok")


def test_a_server_that_never_answers_goes_down_with_connect_timeout(netpolld, servers,
                                                                   blackhole, tmp_path):
    hole = blackhole()
    p = Pool(netpolld, servers, tmp_path, tags=(b"b",), before=[(hole.address, None)],
             backend={"health_check": CHECK})
    p.d.wait_log(rf"server pool/{re.escape(hole.address)} is DOWN: connect timeout")
    row = p.rows()[("server", hole.address)]
    assert (row["status"], row["health"]) == ("DOWN", "connect timeout")
    assert counts(p.visit() for _ in range(4)) == {b"b": 4}


def test_with_every_server_down_a_client_is_closed_with_no_server(netpolld, servers, tmp_path):
    p = Pool(netpolld, servers, tmp_path, metrics=True, backend={"health_check": CHECK})
    ports = {t: p.servers[t].port for t in p.tags}
    for t in p.tags:
        p.servers[t].close()
    for t in p.tags:
        p.d.wait_log(down_line(p, t))
    assert p.rows()[("backend", "pool")]["status"] == "DOWN"
    assert metric(http_get_ok(p.mport, "/metrics"), "netpolld_backend_up", backend="pool") == 0
    s = socket.create_connection(("127.0.0.1", p.port), timeout=TIMEOUT)
    assert s.recv(1) == b""
    s.close()
    (line,) = p.settle(1)
    assert (line["server"], line["end"], line["retries"]) == ("-", "no_server", "0")

    p.servers[b"b"] = servers(handler=tagged(b"b"), port=ports[b"b"])
    p.d.wait_log(up_line(p, b"b"))
    assert p.rows()[("backend", "pool")]["status"] == "UP"
    assert p.visit() == b"b"


# ---- passive marking (no health_check) ----------------------------------------------

def passive_pool(netpolld, servers, tmp_path):
    """A dead address first, then live a; no health_check, retries 2."""
    dead_port = free_port()
    dead = f"127.0.0.1:{dead_port}"
    p = Pool(netpolld, servers, tmp_path, tags=(b"a",), before=[(dead, None)])
    return p, dead, dead_port


def connect_warnings(p, dead):
    return lines_matching(p, rf"connect to {re.escape(dead)}: ")


def test_without_checks_three_failed_connects_mark_a_server_down_and_it_is_skipped(
        netpolld, servers, tmp_path):
    p, dead, _ = passive_pool(netpolld, servers, tmp_path)
    started = time.monotonic()
    marked = rf"server pool/{re.escape(dead)} is DOWN: connect refused"

    # Every client is served (the failed connects are retried on a)
    # until three failures in a row mark the dead one DOWN.
    for i in range(20):
        assert p.visit() == b"a"
        if lines_matching(p, marked):
            break
    else:
        raise AssertionError("the dead server was never marked DOWN")
    p.d.wait_log(rf"connect to {re.escape(dead)}: ", count=3)
    assert len(connect_warnings(p, dead)) == 3
    row = p.rows()[("server", dead)]
    assert (row["status"], row["connect_errors"], row["health"]) == ("DOWN", "3", "-")

    # From now on it is skipped: no connect to it, no retry (but for a
    # trial after 10 s, should this machine be that slow).
    n = p.quiesce(0)
    assert counts(p.visit() for _ in range(10)) == {b"a": 10}
    trials = int((time.monotonic() - started) // 10)
    assert len(connect_warnings(p, dead)) <= 3 + trials
    lines = sorted(p.settle(n + 10), key=lambda c: int(c["conn"]))[-10:]
    assert sum(int(c["retries"]) for c in lines) <= trials
    assert all(c["end"] == "client_close" for c in lines)


def test_without_checks_a_down_server_gets_a_trial_that_brings_it_back(netpolld, servers,
                                                                       tmp_path):
    """Nothing else could bring it back: after 10 s a DOWN server is given
    one connection; if that connect succeeds the server is UP again."""
    p, dead, dead_port = passive_pool(netpolld, servers, tmp_path)
    marked = rf"server pool/{re.escape(dead)} is DOWN: connect refused"
    wait_until(lambda: p.visit() == b"a" and lines_matching(p, marked), interval=0.05,
               what="the dead server marked DOWN")
    servers(handler=tagged(b"d"), port=dead_port)
    wait_until(lambda: p.visit() == b"d", timeout=TIMEOUT + 15, interval=0.2,
               what="a trial connection reaching the revived server")
    p.d.wait_log(rf"server pool/{re.escape(dead)} is UP: connect succeeded")
    assert p.rows()[("server", dead)]["status"] == "UP"
    assert b"d" in {p.visit() for _ in range(4)}


def test_without_checks_a_down_server_is_given_one_trial_not_every_client(
        netpolld, servers, blackhole, tmp_path):
    """A DOWN server whose trial connect hangs (an address that never
    answers) gets that one trial: clients arriving while it is in flight
    go to the live server at once, not into the same connect_timeout."""
    hole = blackhole()
    p = Pool(netpolld, servers, tmp_path, tags=(b"a",), before=[(hole.address, None)],
             backend={"connect_timeout": "1s"})
    marked = rf"server pool/{re.escape(hole.address)} is DOWN: connect timeout"
    # Six at once: round-robin sends three into the hole, whose connects
    # time out (each retried on a): three failures, DOWN.
    first = [p.hold() for _ in range(6)]
    assert counts(t for _, t in first) == {b"a": 6}
    p.d.wait_log(marked)
    for s, _ in first:
        s.close()
    n = p.quiesce(0)

    # Poll until a client's connect hangs: that is the trial, in the hole.
    def trial_started():
        s = socket.create_connection(("127.0.0.1", p.port), timeout=TIMEOUT)
        client = "%s:%d" % s.getsockname()
        s.settimeout(0.5)
        try:
            tag = s.recv(1)
        except socket.timeout:
            conns = [ln for ln in p.ask("show conns")[0].splitlines()
                     if f" client={client} " in ln]
            if conns and " state=CONNECTING " in conns[0]:
                return s
            s.settimeout(TIMEOUT)   # only slow: not the trial
            tag = s.recv(1)
        assert tag == b"a", tag
        s.close()
        return None
    trial = wait_until(trial_started, timeout=TIMEOUT + 15, interval=0.1,
                       what="the trial connection after 10 s")
    others = [p.hold() for _ in range(4)]       # while the trial is in flight
    assert counts(t for _, t in others) == {b"a": 4}
    trial.settimeout(TIMEOUT)
    assert recv_exactly(trial, 1) == b"a"       # its connect timed out; retried on a
    for s, _ in others:
        s.close()
    trial.close()
    p.quiesce(0)
    later = sorted(p.d.conn_lines(), key=lambda c: int(c["conn"]))[n:]
    retried = [c for c in later if c["retries"] != "0"]
    assert len(retried) == 1, (
        "clients sent to the DOWN server while its trial was in flight: "
        f"{[(c['conn'], c['retries'], c['connect_ms']) for c in retried]}")
