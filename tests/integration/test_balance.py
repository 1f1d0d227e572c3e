"""Server selection (SPEC "Configuration": balance, weight, backup) against
the real daemon: roundrobin is nginx's smooth weighted round-robin, exact
in its counts and in its order; leastconn follows the connections open
now (per unit of weight); source keeps a client address on one server
and moves only the clients of a server that leaves; random spreads
roughly by weight; backups serve only while no primary can; and the
weights show in `show stat`, its JSON form and /metrics.

Each server greets every connection with its one-byte tag, so a client
knows which server it reached without sending anything."""
import json
import os
import re
import socket

from conftest import (TIMEOUT, free_port, parse_info, parse_stat, recv_exactly,
                      stats_query, wait_until)
from conftest import http_get, write_config


# ---- servers, configuration, clients --------------------------------------

def tagged(tag):
    """Handler: sends TAG at once, then echoes until EOF."""
    def handle(conn):
        try:
            conn.sendall(tag)
            while True:
                b = conn.recv(1 << 16)
                if not b:
                    break
                conn.sendall(b)
        except OSError:
            pass        # a health check, or a client that went away
        finally:
            conn.close()
    return handle


def lc(value):
    """VALUE in libconfig syntax."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return "{ " + " ".join(f"{k} = {lc(v)};" for k, v in value.items()) + " }"
    return f'"{value}"'


def settings(d, indent="    "):
    return "".join(f"{indent}{k} = {lc(v)};\n" for k, v in (d or {}).items())


def config(port, servers, *, global_=None, backend=None, listener=None):
    """Listener "front" on 127.0.0.1:PORT over backend "pool". SERVERS is a
    list of (address, {per-server key: value})."""
    srv = ",\n".join("      { " + " ".join(f"{k} = {lc(v)};" for k, v in
                                          {"address": a, **(opts or {})}.items()) + " }"
                     for a, opts in servers)
    return (f"global = {{\n{settings(global_)}}};\n"
            "listeners = (\n  {\n    name = \"front\";\n"
            f"    listen = \"127.0.0.1:{port}\";\n    backend = \"pool\";\n"
            f"{settings(listener)}  }}\n);\n"
            "backends = (\n  {\n    name = \"pool\";\n"
            f"{settings(backend)}    servers = (\n{srv}\n    );\n  }}\n);\n")


class Pool:
    """netpolld over one tagged server per tag in TAGS (in that order),
    with a stats socket. OPTS gives per-server settings by tag; GIVEN,
    servers made by the caller (anything with .address) by tag; BEFORE,
    (address, settings) of untagged servers listed first."""

    def __init__(self, netpolld, servers, tmp_path, tags=(b"a", b"b"), opts=None,
                 metrics=False, backend=None, listener=None, given=None, before=None):
        self.sock = os.path.join(str(tmp_path), "stats.sock")
        self.port = free_port()
        self.mport = free_port() if metrics else None
        self.tags = list(tags)
        given = given or {}
        self.servers = {t: given[t] if t in given else servers(handler=tagged(t)) for t in tags}
        self.opts = dict(opts or {})
        self.backend = dict(backend or {})
        self.lopts = listener
        self.before = list(before or [])
        self.d = netpolld(self.text())

    def text(self, opts=None, backend=None):
        g = {"stats_socket": self.sock}
        if self.mport:
            g["metrics_listen"] = f"127.0.0.1:{self.mport}"
        opts = self.opts if opts is None else opts
        return config(self.port, self.before + [(self.addr(t), opts.get(t)) for t in self.tags],
                      global_=g,
                      backend=self.backend if backend is None else backend,
                      listener=self.lopts)

    def addr(self, tag):
        return self.servers[tag].address

    def tag_of(self, address):
        return next(t for t in self.tags if self.addr(t) == address)

    def ask(self, *commands):
        return stats_query(self.sock, *commands)

    def rows(self):
        return {(r["type"], r["name"]): r for r in parse_stat(self.ask("show stat")[0])}

    def row(self, tag):
        return self.rows()[("server", self.addr(tag))]

    def visit(self, source=None):
        """One connection, closed at once; the tag of the server reached."""
        s, tag = self.hold(source)
        s.close()
        return tag

    def hold(self, source=None):
        """One connection left open; (socket, tag of its server)."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        if source is not None:
            s.bind((source, 0))
        s.connect(("127.0.0.1", self.port))
        return s, recv_exactly(s, 1)

    def info(self):
        return parse_info(self.ask("show info")[0])

    def quiesce(self, still_open):
        """Waits until STILL_OPEN connections are open and every other one
        has its log line; returns the number of log lines."""
        def done():
            i = self.info()
            closed = int(i["connections_total"]) - still_open
            return i["connections_current"] == str(still_open) and \
                len(self.d.conn_lines()) == closed
        wait_until(done, what=f"{still_open} open and the rest logged")
        return len(self.d.conn_lines())

    def settle(self, n):
        """Waits until the daemon has logged N finished connections."""
        return self.d.wait_conns(n)


def counts(tags):
    """{tag: how many times} of an iterable of tags or a bytes string of them."""
    if isinstance(tags, bytes):
        tags = [tags[i:i + 1] for i in range(len(tags))]
    out = {}
    for t in tags:
        out[t] = out.get(t, 0) + 1
    return out


def http_get_ok(port, path):
    """The body of a 200 answer to GET PATH."""
    head, _, body = http_get(port, path).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    return body.decode()


def metric(text, name, **labels):
    """The value of sample NAME with exactly LABELS, or None."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        m = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if m and m[1] == name and (m[2] or "") == want:
            return int(m[3])
    return None


# ---- roundrobin -------------------------------------------------------------

def test_roundrobin_splits_30_connections_15_15_strictly_alternating(netpolld, servers,
                                                                     tmp_path):
    p = Pool(netpolld, servers, tmp_path)
    seq = [p.visit() for _ in range(30)]
    assert b"".join(seq) == b"ab" * 15
    p.settle(30)
    assert {t: p.servers[t].accepted for t in p.tags} == {b"a": 15, b"b": 15}
    assert [int(p.row(t)["total"]) for t in p.tags] == [15, 15]
    # Lines come in the order connections finish: take them by id.
    lines = sorted(p.d.conn_lines(), key=lambda c: int(c["conn"]))
    assert [c["server"] for c in lines] == [p.addr(t) for t in seq]


def test_roundrobin_weights_1_2_give_10_20_in_the_smooth_order(netpolld, servers, tmp_path):
    """nginx's smooth WRR over a (1) and b (2): b a b, b a b, ... never
    a burst of b b b, never two a's in a row."""
    p = Pool(netpolld, servers, tmp_path, opts={b"a": {"weight": 1}, b"b": {"weight": 2}})
    seq = b"".join(p.visit() for _ in range(30))
    assert seq == b"bab" * 10
    assert counts(seq) == {b"a": 10, b"b": 20}
    p.settle(30)
    assert {t: p.servers[t].accepted for t in p.tags} == {b"a": 10, b"b": 20}


def test_roundrobin_weights_5_1_1_interleave_as_nginx_does(netpolld, servers, tmp_path):
    p = Pool(netpolld, servers, tmp_path, tags=(b"a", b"b", b"c"),
             opts={b"a": {"weight": 5}, b"b": {"weight": 1}, b"c": {"weight": 1}})
    seq = b"".join(p.visit() for _ in range(21))
    assert seq == b"aabacaa" * 3


def test_a_reload_with_new_weights_applies_them(netpolld, servers, tmp_path):
    p = Pool(netpolld, servers, tmp_path)
    assert b"".join(p.visit() for _ in range(4)) == b"abab"
    write_config(p.d.config_path, p.text(opts={b"a": {"weight": 3}, b"b": {"weight": 1}}))
    assert p.ask("reload") == ["ok: generation 1\n"]
    assert [p.row(t)["weight"] for t in p.tags] == ["3", "1"]
    seq = b"".join(p.visit() for _ in range(8))
    assert counts(seq) == {b"a": 6, b"b": 2}
    assert b"bb" not in seq + seq[:1]


# ---- backup -------------------------------------------------------------------

def test_a_backup_serves_only_while_no_primary_can(netpolld, servers, tmp_path):
    """Primaries a and b, backup k: k gets nothing while either primary is
    enabled, everything once both are disabled, nothing again once one is
    back."""
    p = Pool(netpolld, servers, tmp_path, tags=(b"a", b"b", b"k"), opts={b"k": {"backup": True}})
    assert counts(p.visit() for _ in range(6)) == {b"a": 3, b"b": 3}
    assert p.ask(f"server disable pool/{p.addr(b'a')}")[0].startswith("ok: ")
    assert counts(p.visit() for _ in range(6)) == {b"b": 6}
    assert p.ask(f"server disable pool/{p.addr(b'b')}")[0].startswith("ok: ")
    assert p.rows()[("backend", "pool")]["status"] == "UP"
    assert counts(p.visit() for _ in range(6)) == {b"k": 6}
    assert p.ask(f"server enable pool/{p.addr(b'b')}")[0].startswith("ok: ")
    assert counts(p.visit() for _ in range(6)) == {b"b": 6}
    assert p.ask(f"server enable pool/{p.addr(b'a')}")[0].startswith("ok: ")
    assert counts(p.visit() for _ in range(6)) == {b"a": 3, b"b": 3}
    p.settle(30)
    assert p.servers[b"k"].accepted == 6
    assert p.row(b"k")["total"] == "6"


def test_a_backup_takes_over_from_a_dead_primary_and_hands_back(netpolld, servers, tmp_path):
    """With health checks: the primary's server stops, its checks fail and
    every client reaches the backup (none is lost meanwhile: a failed
    connect is retried on the backup); the primary comes back on the same
    port and takes every new connection again."""
    p = Pool(netpolld, servers, tmp_path, tags=(b"a", b"k"), opts={b"k": {"backup": True}},
             backend={"health_check": {"interval": "200ms", "timeout": "100ms",
                                       "rise": 2, "fall": 2}})
    assert counts(p.visit() for _ in range(4)) == {b"a": 4}
    port = p.servers[b"a"].port
    p.servers[b"a"].close()
    p.d.wait_log(rf"server pool/{re.escape(p.addr(b'a'))} is DOWN: connect refused")
    assert counts(p.visit() for _ in range(4)) == {b"k": 4}
    p.servers[b"a"] = servers(handler=tagged(b"a"), port=port)
    p.d.wait_log(rf"server pool/{re.escape(p.addr(b'a'))} is UP: check passed")
    assert counts(p.visit() for _ in range(4)) == {b"a": 4}


# ---- leastconn ------------------------------------------------------------------

def test_leastconn_sends_new_connections_to_the_server_with_fewer_open(netpolld, servers,
                                                                      tmp_path):
    p = Pool(netpolld, servers, tmp_path, backend={"balance": "leastconn"})
    held = [p.hold() for _ in range(3)]
    open_ = counts(t for _, t in held)
    assert sorted(open_.values()) == [1, 2], open_
    fewer = min(open_, key=open_.get)
    # The fourth goes where only one is open: 2 and 2.
    s, t = p.hold()
    held.append((s, t))
    assert t == fewer
    assert counts(t for _, t in held) == {b"a": 2, b"b": 2}

    # Close both of a's: the next two go to a, whatever their turn.
    for s, t in [h for h in held if h[1] == b"a"]:
        s.close()
    held = [h for h in held if h[1] != b"a"]
    wait_until(lambda: p.row(b"a")["cur"] == "0", what="a's connections closed")
    more = [p.hold() for _ in range(2)]
    assert [t for _, t in more] == [b"a", b"a"]
    held += more
    rows = p.rows()
    assert (rows[("server", p.addr(b"a"))]["cur"], rows[("server", p.addr(b"b"))]["cur"]) == \
        ("2", "2")
    # Relaying works on all of them.
    for s, _ in held:
        s.sendall(b"ping")
        assert recv_exactly(s, 4) == b"ping"
        s.close()


def test_leastconn_weighs_the_open_connections_by_weight(netpolld, servers, tmp_path):
    """a (1) and b (3): eight held connections end up 2 and 6, and a
    ninth one goes to whichever is lighter per unit of weight."""
    p = Pool(netpolld, servers, tmp_path, backend={"balance": "leastconn"},
             opts={b"a": {"weight": 1}, b"b": {"weight": 3}})
    held = [p.hold() for _ in range(8)]
    assert counts(t for _, t in held) == {b"a": 2, b"b": 6}
    # Close two of b's: 2/1 against 4/3, b is lighter.
    for s, _ in [h for h in held if h[1] == b"b"][:2]:
        s.close()
    wait_until(lambda: p.row(b"b")["cur"] == "4", what="two of b's closed")
    s, t = p.hold()
    assert t == b"b"
    s.close()
    for s, _ in held:
        s.close()


def test_leastconn_with_sequential_connections_takes_turns(netpolld, servers, tmp_path):
    """Equal loads (nothing held) are served in turn, not always by the
    first server."""
    p = Pool(netpolld, servers, tmp_path, tags=(b"a", b"b", b"c"),
             backend={"balance": "leastconn"})
    seq = []
    for i in range(9):
        seq.append(p.visit())
        wait_until(lambda: all(p.row(t)["cur"] == "0" for t in p.tags),
                   what="the connection closed")
    assert counts(seq) == {b"a": 3, b"b": 3, b"c": 3}


# ---- source -------------------------------------------------------------------

SOURCES = [f"127.0.0.{i}" for i in range(2, 34)]


def test_source_keeps_each_client_address_on_one_server(netpolld, servers, tmp_path):
    """32 client addresses, 3 connections each: every address always
    reaches the same server, and the addresses spread over the servers.
    Disabling a server moves only its own clients; enabling it brings
    exactly those back."""
    p = Pool(netpolld, servers, tmp_path, tags=(b"a", b"b", b"c"), backend={"balance": "source"})
    first = {}
    for ip in SOURCES:
        got = {p.visit(source=ip) for _ in range(3)}
        assert len(got) == 1, f"{ip} reached {got}"
        first[ip] = got.pop()
    used = counts(first.values())
    assert len(used) >= 2, used
    lines = p.settle(3 * len(SOURCES))
    for c in lines:
        assert p.tag_of(c["server"]) == first[c["client"].rsplit(":", 1)[0]]

    gone = max(used, key=used.get)
    assert p.ask(f"server disable pool/{p.addr(gone)}")[0].startswith("ok: ")
    moved = {ip: p.visit(source=ip) for ip in SOURCES}
    for ip in SOURCES:
        if first[ip] == gone:
            assert moved[ip] != gone
        else:
            assert moved[ip] == first[ip], f"{ip} moved from {first[ip]} to {moved[ip]}"
    # The moved ones stick to their new server too.
    for ip in SOURCES:
        assert p.visit(source=ip) == moved[ip]

    assert p.ask(f"server enable pool/{p.addr(gone)}")[0].startswith("ok: ")
    assert {ip: p.visit(source=ip) for ip in SOURCES} == first


def test_source_also_holds_for_connections_open_at_once(netpolld, servers, tmp_path):
    """Stickiness does not depend on load: held connections from one
    address all go to its server."""
    p = Pool(netpolld, servers, tmp_path, backend={"balance": "source"})
    for ip in SOURCES[:6]:
        held = [p.hold(source=ip) for _ in range(4)]
        assert len({t for _, t in held}) == 1, (ip, [t for _, t in held])
        for s, _ in held:
            s.close()


# ---- random -------------------------------------------------------------------

def test_random_spreads_roughly_evenly_and_not_in_a_fixed_order(netpolld, servers, tmp_path):
    p = Pool(netpolld, servers, tmp_path, backend={"balance": "random"})
    seq = b"".join(p.visit() for _ in range(200))
    c = counts(seq)
    # Binomial(200, 1/2): sd ~7; 50..150 is seven of them either way.
    assert 50 <= c.get(b"a", 0) <= 150 and 50 <= c.get(b"b", 0) <= 150, c
    assert seq != b"ab" * 100 and seq != b"ba" * 100


def test_random_follows_the_weights(netpolld, servers, tmp_path):
    p = Pool(netpolld, servers, tmp_path, backend={"balance": "random"},
             opts={b"a": {"weight": 1}, b"b": {"weight": 3}})
    c = counts(p.visit() for _ in range(400))
    # a expects 100 (sd ~8.7); b three times as many.
    assert 40 <= c.get(b"a", 0) <= 160, c
    assert c[b"b"] > c.get(b"a", 0)


# ---- weights in the stats -------------------------------------------------------

def test_weights_show_in_show_stat_its_json_and_metrics(netpolld, servers, tmp_path):
    p = Pool(netpolld, servers, tmp_path, tags=(b"a", b"b", b"c"), metrics=True,
             opts={b"a": {"weight": 1}, b"b": {"weight": 2}, b"c": {"weight": 5}})
    want = {b"a": 1, b"b": 2, b"c": 5}
    rows = p.rows()
    for t, w in want.items():
        assert rows[("server", p.addr(t))]["weight"] == str(w)
    assert rows[("backend", "pool")]["weight"] == "8"
    assert rows[("listener", "front")]["weight"] == ""

    doc = json.loads(p.ask("show stat json")[0])
    by = {(r["type"], r["name"]): r for r in doc}
    for t, w in want.items():
        assert by[("server", p.addr(t))]["weight"] == w
    assert by[("backend", "pool")]["weight"] == 8
    def changeless(d):
        return [{k: v for k, v in r.items() if k != "last_change_s"} for r in d]
    assert changeless(json.loads(http_get_ok(p.mport, "/stats"))) == changeless(doc)

    text = http_get_ok(p.mport, "/metrics")
    for t, w in want.items():
        assert metric(text, "netpolld_server_weight", backend="pool", server=p.addr(t)) == w
