"""Connection limits (SPEC "Behaviour users rely on": at max_connections
the proxy stops accepting or routes elsewhere) against the real daemon:
a server at its max_connections gets no new connection while another
can take it, and with every server full a client is closed with
end=limit; a listener at its max_connections leaves the rest in the
kernel's backlog (status FULL) and takes them, in order, as its own
connections close; global.max_connections does the same across
listeners (accept_paused 1); a reload can raise or lower a listener's
limit; and the `limit` column shows what is configured.

Servers greet every connection with a one-byte tag (test_balance), so a
client that has its tag was accepted and routed, and one without it was
not."""
import json
import os
import select
import socket

from conftest import (TIMEOUT, free_port, parse_info, parse_stat, recv_all, recv_exactly,
                      stats_query, wait_until)
from conftest import write_config
from test_balance import Pool, counts, http_get_ok, lc, metric, settings, tagged


def greeted(sock):
    """True if SOCK has bytes waiting (its tag): the proxy accepted it."""
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable) and sock.recv(1, socket.MSG_PEEK) != b""


def silent_client(port):
    """Connects (the kernel completes the handshake whether or not the
    proxy accepts) and sends nothing."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect(("127.0.0.1", port))
    return s


def served(sock, tag=None):
    """SOCK (a waiting client) sends a line and gets its server's tag and
    then the echo; returns the tag."""
    sock.sendall(b"hi")
    got = recv_exactly(sock, 3)
    assert got[1:] == b"hi", got
    assert tag is None or got[:1] == tag
    return got[:1]


class Limits(Pool):
    def listener(self, name="front"):
        return self.rows()[("listener", name)]


# ---- per-server max_connections ---------------------------------------------------

def test_a_server_at_its_max_connections_gets_none_while_another_can(netpolld, servers,
                                                                    tmp_path):
    p = Limits(netpolld, servers, tmp_path, opts={b"a": {"max_connections": 2}})
    held = [p.hold() for _ in range(8)]
    # Round-robin a b a b, then a is full: b takes the rest.
    assert [t for _, t in held] == [b"a", b"b", b"a"] + [b"b"] * 5
    ra, rb = p.row(b"a"), p.row(b"b")
    assert (ra["cur"], ra["max"], ra["limit"], ra["total"]) == ("2", "2", "2", "2")
    assert (rb["cur"], rb["limit"]) == ("6", "0")
    assert p.servers[b"a"].accepted == 2

    # One of a's closes: a takes exactly one more, then is full again.
    a_held = [h for h in held if h[1] == b"a"]
    a_held[0][0].close()
    held.remove(a_held[0])
    wait_until(lambda: p.row(b"a")["cur"] == "1", what="a at one connection")
    more = [p.hold() for _ in range(3)]
    assert counts(t for _, t in more) == {b"a": 1, b"b": 2}
    held += more
    ra = p.row(b"a")
    assert (ra["cur"], ra["max"], ra["total"]) == ("2", "2", "3")
    for s, t in held:
        s.sendall(b"x")
        assert recv_exactly(s, 1) == b"x"
        s.close()


def test_with_every_server_full_a_new_client_is_closed_with_end_limit(netpolld, servers,
                                                                      tmp_path):
    p = Limits(netpolld, servers, tmp_path,
               opts={b"a": {"max_connections": 1}, b"b": {"max_connections": 1}})
    held = [p.hold() for _ in range(2)]
    assert sorted(t for _, t in held) == [b"a", b"b"]
    assert p.rows()[("backend", "pool")]["status"] == "UP"

    for _ in range(2):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect(("127.0.0.1", p.port))
        assert recv_all(s) == b"", "a client beyond every server's limit is closed"
        s.close()
    lines = p.settle(2)
    assert [(c["listener"], c["backend"], c["server"], c["end"]) for c in lines] == \
        [("front", "pool", "-", "limit")] * 2
    rows = p.rows()
    # Counted where they came in, not on any server.
    assert (rows[("listener", "front")]["total"], rows[("backend", "pool")]["total"]) == \
        ("4", "4")
    assert [rows[("server", p.addr(t))]["total"] for t in p.tags] == ["1", "1"]
    assert [rows[("server", p.addr(t))]["cur"] for t in p.tags] == ["1", "1"]
    assert (p.servers[b"a"].accepted, p.servers[b"b"].accepted) == (1, 1)

    # Room again on one server: the next client is served there.
    s, t = held.pop(0)
    s.close()
    wait_until(lambda: p.row(t)["cur"] == "0", what="a server with room")
    s2, t2 = p.hold()
    assert t2 == t
    for s, _ in held + [(s2, t2)]:
        s.close()


def test_a_burst_of_clients_does_not_overshoot_a_servers_limit(netpolld, servers, tmp_path):
    """Twenty clients at once (accepted in one go, their connects in flight
    together): a server with max_connections 2 never has more than 2."""
    p = Limits(netpolld, servers, tmp_path, opts={b"a": {"max_connections": 2}})
    clients = [silent_client(p.port) for _ in range(20)]
    tags = [recv_exactly(c, 1) for c in clients]
    assert counts(tags) == {b"a": 2, b"b": 18}
    ra = p.row(b"a")
    assert (ra["cur"], ra["max"]) == ("2", "2")
    assert p.servers[b"a"].accepted == 2
    for c in clients:
        c.close()


def test_a_server_limit_counts_connects_still_in_progress(netpolld, servers, blackhole,
                                                         tmp_path):
    """max_connections bounds the connections a server is given, also
    while their connects are in flight: a server with max_connections 1
    whose connect hangs gets no second client meanwhile; the next
    clients go to the other server."""
    slow = blackhole()
    port = free_port()
    sock = os.path.join(str(tmp_path), "stats.sock")
    b = servers(handler=tagged(b"b"))
    text = (f'global = {{ stats_socket = "{sock}"; }};\n'
            f'listeners = ( {{ name = "front"; listen = "127.0.0.1:{port}"; '
            'backend = "pool"; } );\n'
            'backends = ( { name = "pool"; connect_timeout = "3s"; retries = 0; servers = (\n'
            f'  {{ address = "{slow.address}"; max_connections = 1; }},\n'
            f'  {{ address = "{b.address}"; }} ); }} );\n')
    d = netpolld(text)
    first = silent_client(port)         # round-robin's first pick: the slow server
    wait_until(lambda: parse_info(stats_query(sock, "show info")[0])["connections_current"]
               == "1", what="the first client accepted")
    clients = [silent_client(port) for _ in range(3)]
    try:
        got = [recv_exactly(c, 1) for c in clients]
    except AssertionError:
        got = None
    lines = d.conn_lines()
    assert got == [b"b"] * 3, (
        "a server with max_connections 1 and a connect in flight was given more clients: "
        f"{[(c['server'], c['end']) for c in lines]}")
    for c in clients + [first]:
        c.close()


# ---- listener max_connections -----------------------------------------------------

N = 5


def test_a_full_listener_leaves_the_rest_in_the_backlog_and_serves_them_in_turn(
        netpolld, servers, tmp_path):
    p = Limits(netpolld, servers, tmp_path, tags=(b"a",), listener={"max_connections": N})
    clients = []
    for _ in range(N + 20):
        clients.append(silent_client(p.port))   # connected at the TCP level
        info, lst = p.info(), p.listener()
        assert int(info["connections_current"]) <= N, info
        assert int(lst["cur"]) <= N, lst
    wait_until(lambda: p.info()["connections_current"] == str(N), what=f"{N} accepted")
    lst = p.listener()
    assert (lst["status"], lst["cur"], lst["max"], lst["limit"], lst["total"]) == \
        ("FULL", str(N), str(N), str(N), str(N))
    # The first N (the kernel's queue is in order) have their tag; the
    # others were not accepted, so no server was asked for them.
    wait_until(lambda: all(greeted(c) for c in clients[:N]), what="the first N greeted")
    assert not any(greeted(c) for c in clients[N:])
    assert p.servers[b"a"].accepted == N
    assert p.info()["accept_paused"] == "0"      # only this listener is full

    # The accepted ones go; every waiting one is served in turn, never
    # more than N at once.
    for c in clients[:N]:
        assert recv_exactly(c, 1) == b"a"
        c.close()
    for c in clients[N:]:
        served(c, b"a")
        c.close()
        assert int(p.listener()["cur"]) <= N
    wait_until(lambda: p.info()["connections_current"] == "0", what="all closed")
    lst = p.listener()
    assert (lst["status"], lst["max"], lst["total"]) == ("OPEN", str(N), str(N + 20))
    assert len(p.settle(N + 20)) == N + 20
    assert p.servers[b"a"].accepted == N + 20


def test_a_reload_can_raise_or_lower_a_listeners_limit(netpolld, servers, tmp_path):
    p = Limits(netpolld, servers, tmp_path, tags=(b"a",), listener={"max_connections": 3})
    clients = [silent_client(p.port) for _ in range(5)]
    wait_until(lambda: p.listener()["cur"] == "3", what="3 accepted")
    assert p.listener()["status"] == "FULL"

    # Raised to 5: the two waiting clients are taken at once.
    p.lopts = {"max_connections": 5}
    write_config(p.d.config_path, p.text())
    assert p.ask("reload") == ["ok: generation 1\n"]
    wait_until(lambda: all(greeted(c) for c in clients), what="the waiting two accepted")
    lst = p.listener()
    assert (lst["status"], lst["cur"], lst["limit"]) == ("FULL", "5", "5")

    # Lowered to 2 below the 5 open: they stay, nothing new is taken
    # until fewer than 2 are open.
    p.lopts = {"max_connections": 2}
    write_config(p.d.config_path, p.text())
    assert p.ask("reload") == ["ok: generation 2\n"]
    lst = p.listener()
    assert (lst["status"], lst["cur"], lst["limit"]) == ("FULL", "5", "2")
    for c in clients:
        c.sendall(b"y")
        assert recv_exactly(c, 2) == b"ay"
    for c in clients[:3]:
        c.close()
    wait_until(lambda: p.listener()["cur"] == "2", what="two left open")
    late = silent_client(p.port)
    assert p.listener()["status"] == "FULL"
    assert not greeted(late)
    clients[3].close()
    served(late, b"a")
    for c in clients[4:] + [late]:
        c.close()


# ---- global max_connections ------------------------------------------------------

def two_listeners(port1, port2, server, sock, limit):
    return (f"global = {{\n{settings({'stats_socket': sock, 'max_connections': limit})}}};\n"
            "listeners = (\n"
            f'  {{ name = "front"; listen = "127.0.0.1:{port1}"; backend = "pool"; }},\n'
            f'  {{ name = "side"; listen = "127.0.0.1:{port2}"; backend = "pool"; }}\n'
            ");\n"
            f'backends = ( {{ name = "pool"; servers = ( {{ address = {lc(server)}; }} ); }} );\n')


def test_global_max_connections_pauses_every_listener_at_the_limit(netpolld, servers,
                                                                  tmp_path):
    limit = 4
    srv = servers(handler=tagged(b"a"))
    p1, p2 = free_port(), free_port()
    sock = os.path.join(str(tmp_path), "stats.sock")
    d = netpolld(two_listeners(p1, p2, srv.address, sock, limit))

    def info():
        return parse_info(stats_query(sock, "show info")[0])

    def listeners():
        text = stats_query(sock, "show stat")[0]
        return {r["name"]: r for r in parse_stat(text) if r["type"] == "listener"}

    held = []
    for port in (p1, p1, p2, p2):
        c = silent_client(port)
        assert recv_exactly(c, 1) == b"a"
        held.append(c)
    wait_until(lambda: info()["accept_paused"] == "1", what="accept_paused 1 at the limit")
    d.wait_log(rf"connection limit {limit} reached; pausing accepts")
    assert {n: r["status"] for n, r in listeners().items()} == {"front": "FULL", "side": "FULL"}

    waiting = [silent_client(port) for port in (p1, p2, p1)]
    i = info()
    assert (i["connections_current"], i["accept_paused"]) == (str(limit), "1")
    assert not any(greeted(c) for c in waiting)
    assert srv.accepted == limit

    # Each close lets exactly one waiting client in.
    for k in range(len(waiting)):
        held.pop(0).close()
        wait_until(lambda: sum(greeted(c) for c in waiting) == k + 1,
                   what=f"{k + 1} waiting clients accepted")
        i = info()
        assert int(i["connections_current"]) <= limit
    assert info()["accept_paused"] == "1"
    for c in waiting:
        served(c, b"a")
    for c in held + waiting:
        c.close()
    wait_until(lambda: info()["connections_current"] == "0", what="all closed")
    i = info()
    assert (i["accept_paused"], i["connections_total"]) == ("0", str(limit + 3))
    assert {n: r["status"] for n, r in listeners().items()} == {"front": "OPEN", "side": "OPEN"}


# ---- the limit column -------------------------------------------------------------

def test_the_limit_column_shows_the_configured_limits(netpolld, servers, tmp_path):
    p = Limits(netpolld, servers, tmp_path, tags=(b"a", b"b", b"c"), metrics=True,
               listener={"max_connections": 7},
               opts={b"a": {"max_connections": 2}, b"b": {"max_connections": 30}})
    want = {("listener", "front"): 7, ("server", p.addr(b"a")): 2,
            ("server", p.addr(b"b")): 30, ("server", p.addr(b"c")): 0}
    rows = p.rows()
    for key, v in want.items():
        assert rows[key]["limit"] == str(v), key
    doc = {(r["type"], r["name"]): r for r in json.loads(p.ask("show stat json")[0])}
    for key, v in want.items():
        assert doc[key]["limit"] == v, key
    text = http_get_ok(p.mport, "/metrics")
    assert metric(text, "netpolld_connections_limit", listener="front") == 7
    for t, v in ((b"a", 2), (b"b", 30), (b"c", 0)):
        assert metric(text, "netpolld_server_connections_limit", backend="pool",
                      server=p.addr(t)) == v


def test_a_reload_raising_global_max_connections_lets_the_waiting_clients_in(
        netpolld, servers, tmp_path):
    """At the process-wide limit with clients waiting, a reload that raises
    the limit takes them at once: nobody has to close first."""
    srv = servers(handler=tagged(b"a"))
    p1, p2 = free_port(), free_port()
    sock = os.path.join(str(tmp_path), "stats.sock")
    d = netpolld(two_listeners(p1, p2, srv.address, sock, 2))

    def info():
        return parse_info(stats_query(sock, "show info")[0])

    held = [silent_client(p) for p in (p1, p2)]
    waiting = []
    try:
        for c in held:
            assert recv_exactly(c, 1) == b"a"
        wait_until(lambda: info()["accept_paused"] == "1", what="paused at 2")
        waiting += [silent_client(p) for p in (p1, p2)]
        assert not any(greeted(c) for c in waiting)

        write_config(d.config_path, two_listeners(p1, p2, srv.address, sock, 4))
        assert stats_query(sock, "reload") == ["ok: generation 1\n"]
        wait_until(lambda: all(greeted(c) for c in waiting),
                   what="the waiting clients accepted after the limit was raised")
        i = info()
        assert (i["connections_current"], i["accept_paused"]) == ("4", "1")
        for c in waiting:
            served(c, b"a")
    finally:
        for c in held + waiting:
            c.close()
    wait_until(lambda: info()["connections_current"] == "0", what="all closed")
    assert info()["accept_paused"] == "0"
