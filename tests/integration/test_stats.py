"""The stats socket (SPEC "Stats socket") and netpollctl against the real
daemon: every counter agrees exactly with traffic whose bytes the test
knows; commands are answered in order and mistakes with `error: `;
operator control of servers, and what a reload keeps; the socket's mode;
and a client that never reads, or too many clients, cost the relay
nothing."""
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import termios
import threading

from conftest import (ROOT, TIMEOUT, conf_text, connect, echo_handler, free_port, parse_info,
                      parse_logfmt, parse_stat, recv_all, recv_exactly, reset, stats_query,
                      wait_until)
from conftest import write_config

NETPOLLCTL = os.environ.get("NETPOLLCTL", os.path.join(ROOT, "build", "netpollctl"))
MiB = 1 << 20

COLUMNS = ("type,name,parent,status,cur,max,limit,total,bytes_in,bytes_out,denied,errors,"
           "connect_errors,retries,health,weight,last_change_s").split(",")
NUMERIC = ("cur", "max", "limit", "total", "bytes_in", "bytes_out", "denied", "errors",
           "connect_errors", "retries", "last_change_s")
# netpollctl's `stat` table headings, column by column.
TABLE_TITLES = {"TYPE": "type", "NAME": "name", "PARENT": "parent", "STATUS": "status",
                "CUR": "cur", "MAX": "max", "LIMIT": "limit", "TOTAL": "total",
                "BYTES_IN": "bytes_in", "BYTES_OUT": "bytes_out", "DENIED": "denied",
                "ERRORS": "errors", "CONN_ERR": "connect_errors", "RETRIES": "retries",
                "HEALTH": "health", "WEIGHT": "weight", "CHANGE": "last_change_s"}

# Each test server answers every chunk with FACTOR times as many bytes of
# its MARK: a client sees which server it reached, and bytes_in differs
# from bytes_out by a known factor.
FACTOR = {b"a": 1, b"b": 3, b"c": 2}


# ---- servers and traffic -------------------------------------------------

class Replier:
    """Handler: each chunk received is answered with FACTOR[mark] times as
    many MARK bytes; EOF closes."""

    def __init__(self, mark):
        self.mark = mark

    def __call__(self, conn):
        while True:
            b = conn.recv(1 << 16)
            if not b:
                break
            conn.sendall(self.mark * (len(b) * FACTOR[self.mark]))
        conn.close()


def exchange(sock, size):
    """Sends SIZE bytes and reads the whole answer; returns the mark of the
    server that answered."""
    sock.sendall(b"q" * size)
    mark = recv_exactly(sock, 1)
    assert mark in FACTOR, mark
    rest = recv_exactly(sock, size * FACTOR[mark] - 1)
    assert rest == mark * len(rest)
    return mark


class Tally:
    """What the proxy must have counted per server mark, from the clients'
    side: connections, bytes each way, and how many are open."""

    def __init__(self):
        self.total, self.bytes_in, self.bytes_out, self.open = {}, {}, {}, {}

    def add(self, mark, size, still_open=False):
        for d, v in ((self.total, 1), (self.bytes_in, size),
                     (self.bytes_out, size * FACTOR[mark]), (self.open, int(still_open))):
            d[mark] = d.get(mark, 0) + v

    def all(self, what):
        return sum(getattr(self, what).values())

    def of(self, mark, what):
        return getattr(self, what).get(mark, 0)


class Proxy:
    """netpolld with listener "front" and backend "pool", a Replier server
    per mark in MARKS, and its stats socket in the test's directory.
    LAYOUT lists the configured servers: marks (their server's address)
    or address strings; by default every mark's server."""

    def __init__(self, netpolld, servers, tmp_path, marks=(b"a", b"b"), layout=None,
                 global_=None, start=None, **conf):
        self.tmp = str(tmp_path)
        self.sock = os.path.join(self.tmp, "stats.sock")
        self.port = free_port()
        self.servers = {m: servers(handler=Replier(m)) for m in marks}
        self.global_ = {"stats_socket": f'"{self.sock}"', **(global_ or {})}
        self.conf = conf
        self.d = netpolld(self.config_text(layout), **(start or {}))

    def addr(self, mark):
        return self.servers[mark].address

    def config_text(self, layout=None):
        layout = list(self.servers) if layout is None else layout
        addrs = [self.addr(x) if isinstance(x, bytes) else x for x in layout]
        return conf_text(f"127.0.0.1:{self.port}", addrs, global_=self.global_, **self.conf)

    def rewrite(self, text):
        write_config(self.d.config_path, text)

    def ask(self, *commands):
        return stats_query(self.sock, *commands)

    def info(self):
        return parse_info(self.ask("show info")[0])

    def rows(self):
        return stat_rows(self.ask("show stat")[0])

    def server_row(self, mark):
        return self.rows()[("server", self.addr(mark))]

    def mark_of(self, address):
        return next(m for m in self.servers if self.addr(m) == address)

    def settle(self, n):
        """Waits until N connections are open: closes the clients made
        have reached the daemon."""
        wait_until(lambda: self.info()["connections_current"] == str(n),
                   what=f"{n} connections open")

    def relay_works(self):
        """One more connection relays both ways; returns its mark."""
        with connect(self.port) as s:
            return exchange(s, 100)


# ---- reading answers -----------------------------------------------------

def typed(row):
    """A `show stat` row with numbers as ints and an empty weight as None,
    as the JSON form has them."""
    out = dict(row)
    for k in NUMERIC:
        out[k] = int(out[k])
    out["weight"] = int(out["weight"]) if out["weight"] != "" else None
    return out


def stat_rows(text):
    """`show stat` CSV as {(type, name): typed row}."""
    lines = text.splitlines()
    assert lines[0] == "# " + ",".join(COLUMNS), lines[0]
    rows = [typed(r) for r in parse_stat(text)]
    assert all(len(r) == len(COLUMNS) for r in rows)
    return {(r["type"], r["name"]): r for r in rows}


def without(d, *keys):
    return {k: v for k, v in d.items() if k not in keys}


def conns_by_client(text):
    """`show conns` as {client address: fields}."""
    out = {}
    for line in text.splitlines():
        f = parse_logfmt(line)
        out[f["client"]] = f
    return out


def ageless(conns_text):
    """`show conns` lines without their age, sorted."""
    return sorted(re.sub(r" age_ms=\d+", "", ln) for ln in conns_text.splitlines())


def client_of(sock):
    host, port = sock.getsockname()[:2]
    return f"{host}:{port}"


def check_row(row, **want):
    got = {k: row[k] for k in want}
    assert got == want, f"{row['type']} {row['name']}: {got} != {want}"


def split_answers(data):
    """A whole transcript (bytes) as answers, each without its closing
    empty line; what follows the last complete answer is returned too."""
    text = data.decode(errors="replace")
    answers = []
    while True:
        if text.startswith("\n"):
            answers.append("")
            text = text[1:]
            continue
        end = text.find("\n\n")
        if end < 0:
            return answers, text
        answers.append(text[:end + 1])
        text = text[end + 2:]


def talk(path, data):
    """Sends raw DATA to the stats socket and reads until it closes (a
    reset after the answers counts as closing); returns the transcript."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect(path)
    chunks = []
    try:
        s.sendall(data)
        while True:
            b = s.recv(1 << 16)
            if not b:
                break
            chunks.append(b)
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        s.close()
    return b"".join(chunks)


def ctl(sock, *args):
    return subprocess.run([NETPOLLCTL, "-s", sock, *args], capture_output=True, text=True,
                          timeout=TIMEOUT)


def table_rows(text):
    """netpollctl's `stat` table as {(type, name): {column: cell}}."""
    lines = text.splitlines()
    titles = lines[0].split()
    assert titles == list(TABLE_TITLES), titles
    rows = {}
    for line in lines[1:]:
        cells = dict(zip((TABLE_TITLES[t] for t in titles), line.split()))
        assert len(cells) == len(titles), line
        rows[(cells["type"], cells["name"])] = cells
    return rows


def inq(sock):
    """Bytes waiting to be read on SOCK."""
    return int.from_bytes(fcntl.ioctl(sock, termios.FIONREAD, b"\0\0\0\0"), "little")


# ---- counters against known traffic --------------------------------------

SEQUENTIAL = [1000 * (i + 1) for i in range(6)]    # each closed before the next
HELD = [700, 800, 900, 1100]                        # kept open together


def known_traffic(p):
    """SEQUENTIAL connections one after another, each closed by the client
    and logged before the next starts, then HELD connections left open.
    Returns the tally and the held sockets."""
    tally = Tally()
    for i, size in enumerate(SEQUENTIAL):
        with connect(p.port) as s:
            mark = exchange(s, size)
            s.shutdown(socket.SHUT_WR)
            assert recv_all(s) == b""
        tally.add(mark, size)
        p.d.wait_conns(i + 1)
    held = []
    for size in HELD:
        s = connect(p.port)
        tally.add(exchange(s, size), size, still_open=True)
        held.append((s, size))
    assert set(tally.total) == {b"a", b"b"}, "both servers take connections"
    return tally, held


def expected_max(tally, mark):
    """A server's max after known_traffic(): the sequential connections
    were open one at a time, the held ones together."""
    held = tally.of(mark, "open")
    return max(held, min(tally.of(mark, "total") - held, 1))


def test_info_stat_json_and_conns_agree_exactly_with_known_traffic(netpolld, servers, tmp_path):
    p = Proxy(netpolld, servers, tmp_path)
    tally, held = known_traffic(p)
    n_all, n_held = len(SEQUENTIAL) + len(HELD), len(HELD)

    info_t, stat_t, json_t, conns_t = p.ask("show info", "show stat", "show stat json",
                                            "show conns")
    info = parse_info(info_t)
    assert info["pid"] == str(p.d.pid)
    assert info["generation"] == "0" and info["last_reload"] == "never"
    assert info["accept_paused"] == "0"
    assert {k: int(info[k]) for k in ("connections_current", "connections_total", "bytes_in",
                                      "bytes_out")} == {
        "connections_current": n_held, "connections_total": n_all,
        "bytes_in": tally.all("bytes_in"), "bytes_out": tally.all("bytes_out")}
    assert tally.all("bytes_in") != tally.all("bytes_out")

    rows = stat_rows(stat_t)
    assert set(rows) == {("listener", "front"), ("backend", "pool"),
                         ("server", p.addr(b"a")), ("server", p.addr(b"b"))}
    quiet = dict(limit=0, denied=0, errors=0, connect_errors=0, retries=0)
    every = dict(cur=n_held, max=n_held, total=n_all, bytes_in=tally.all("bytes_in"),
                 bytes_out=tally.all("bytes_out"), **quiet)
    check_row(rows[("listener", "front")], parent="pool", status="OPEN", health="",
              weight=None, **every)
    check_row(rows[("backend", "pool")], parent="", status="UP", weight=2, **every)
    for m in (b"a", b"b"):
        check_row(rows[("server", p.addr(m))], parent="pool", status="UP", weight=1,
                  cur=tally.of(m, "open"), max=expected_max(tally, m),
                  total=tally.of(m, "total"), bytes_in=tally.of(m, "bytes_in"),
                  bytes_out=tally.of(m, "bytes_out"), **quiet)

    # The JSON document: the same rows, the same order, numbers as numbers.
    doc = json.loads(json_t)
    assert [list(r) for r in doc] == [COLUMNS] * len(doc)
    assert [without(r, "last_change_s") for r in doc] == \
        [without(r, "last_change_s") for r in rows.values()]

    conns = conns_by_client(conns_t)
    assert set(conns) == {client_of(s) for s, _ in held}
    for s, size in held:
        c = conns[client_of(s)]
        mark = p.mark_of(c["server"])
        assert without(c, "conn", "client", "age_ms", "server") == {
            "listener": "front", "backend": "pool", "state": "RELAYING",
            "bytes_in": str(size), "bytes_out": str(size * FACTOR[mark])}
        assert re.fullmatch(r"\d+", c["conn"]) and re.fullmatch(r"\d+", c["age_ms"])

    # Closing the held ones brings every cur back to 0 and keeps the rest.
    for s, _ in held:
        s.close()
    p.d.wait_conns(n_all)
    info = p.info()
    assert (info["connections_current"], info["connections_total"]) == ("0", str(n_all))
    rows = p.rows()
    for key in (("listener", "front"), ("backend", "pool")):
        check_row(rows[key], cur=0, max=n_held, total=n_all)
    for m in (b"a", b"b"):
        check_row(rows[("server", p.addr(m))], cur=0, total=tally.of(m, "total"),
                  bytes_in=tally.of(m, "bytes_in"), bytes_out=tally.of(m, "bytes_out"))
    assert p.ask("show conns") == [""]


def test_netpollctl_info_stat_and_conns_print_what_the_socket_says(netpolld, servers, tmp_path):
    p = Proxy(netpolld, servers, tmp_path)
    tally, held = known_traffic(p)
    info_t, stat_t, json_t, conns_t = p.ask("show info", "show stat", "show stat json",
                                            "show conns")

    r = ctl(p.sock, "info")
    assert r.returncode == 0, r.stderr
    assert without(parse_info(r.stdout), "uptime_s") == without(parse_info(info_t), "uptime_s")
    r = ctl(p.sock, "info", "--json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert isinstance(got["uptime_s"], int)
    want = {k: (int(v) if re.fullmatch(r"\d+", v) else v) for k, v in parse_info(info_t).items()}
    assert without(got, "uptime_s") == without(want, "uptime_s")
    assert got["bytes_in"] == tally.all("bytes_in")

    r = ctl(p.sock, "stat")
    assert r.returncode == 0, r.stderr
    table = table_rows(r.stdout)
    rows = stat_rows(stat_t)
    assert list(table) == list(rows)
    for key, row in rows.items():
        want = {k: ("-" if v in ("", None) else str(v)) for k, v in row.items()}
        assert without(table[key], "last_change_s") == without(want, "last_change_s")
    r = ctl(p.sock, "stat", "--json")
    assert r.returncode == 0, r.stderr
    assert [without(x, "last_change_s") for x in json.loads(r.stdout)] == \
        [without(x, "last_change_s") for x in json.loads(json_t)]

    r = ctl(p.sock, "conns")
    assert r.returncode == 0, r.stderr
    assert ageless(r.stdout) == ageless(conns_t) and len(ageless(conns_t)) == len(HELD)
    r = ctl(p.sock, "conns", "--json")
    assert r.returncode == 0, r.stderr
    got = {c["client"]: c for c in json.loads(r.stdout)}
    assert set(got) == {client_of(s) for s, _ in held}
    for s, size in held:
        c = got[client_of(s)]
        assert c["listener"] == "front" and c["state"] == "RELAYING"
        assert c["bytes_in"] == size and isinstance(c["age_ms"], int)
        assert c["bytes_out"] == size * FACTOR[p.mark_of(c["server"])]
    for s, _ in held:
        s.close()


def test_connect_errors_and_retries_are_counted_on_backend_and_server(netpolld, servers, tmp_path):
    """A dead server first in the list: connects that fail there are
    retried on the live one; every failed connect and every retry is
    counted on the backend and on the server that failed, and agrees
    with the connection log."""
    dead = f"127.0.0.1:{free_port()}"
    p = Proxy(netpolld, servers, tmp_path, marks=(b"a",), layout=[dead, b"a"],
              backend={"retries": 1})
    n = 4
    for i in range(n):
        with connect(p.port) as s:
            assert exchange(s, 10) == b"a"
            s.shutdown(socket.SHUT_WR)
            assert recv_all(s) == b""
        p.d.wait_conns(i + 1)
    lines = p.d.conn_lines()
    assert [(c["server"], c["end"]) for c in lines] == [(p.addr(b"a"), "client_close")] * n
    retried = sum(int(c["retries"]) for c in lines)
    assert retried >= 1, "round-robin sends some first attempts to the dead server"
    rows = p.rows()
    check_row(rows[("backend", "pool")], connect_errors=retried, retries=retried, errors=0,
              total=n, cur=0)
    check_row(rows[("server", dead)], connect_errors=retried, retries=retried, total=0, cur=0,
              bytes_in=0, bytes_out=0)
    check_row(rows[("server", p.addr(b"a"))], connect_errors=0, retries=0, total=n,
              bytes_in=10 * n, bytes_out=10 * n)
    check_row(rows[("listener", "front")], total=n, errors=0)


def test_a_client_refused_by_every_server_counts_each_failed_connect(netpolld, servers, tmp_path):
    """Both servers dead, retries = 1: the first is tried (a connect error
    and a retry), then the second (a connect error; no retry left); the
    client is closed with end=connect_refused."""
    dead1, dead2 = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    p = Proxy(netpolld, servers, tmp_path, marks=(), layout=[dead1, dead2],
              backend={"retries": 1})
    with connect(p.port) as s:
        assert recv_all(s) == b""
    (line,) = p.d.wait_conns(1)
    assert (line["server"], line["retries"], line["end"]) == ("-", "1", "connect_refused")
    rows = p.rows()
    check_row(rows[("backend", "pool")], connect_errors=2, retries=1, total=1, cur=0)
    check_row(rows[("server", dead1)], connect_errors=1, retries=1, total=0)
    check_row(rows[("server", dead2)], connect_errors=1, retries=0, total=0)
    check_row(rows[("listener", "front")], total=1, cur=0, bytes_in=0, bytes_out=0)


def reset_or_echo(conn):
    """Echoes, except that a chunk starting with RST is answered by a reset."""
    while True:
        b = conn.recv(1 << 16)
        if not b:
            conn.close()
            return
        if b.startswith(b"RST"):
            reset(conn)
            return
        conn.sendall(b)


def test_resets_count_as_errors_of_the_side_they_came_from(netpolld, servers, tmp_path):
    """A client's reset is an error of the listener; a server's, of the
    backend and that server."""
    srv = servers(handler=reset_or_echo)
    sock = os.path.join(str(tmp_path), "stats.sock")
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", srv.address,
                           global_={"stats_socket": f'"{sock}"'}))
    c = connect(port)
    c.sendall(b"hello")
    assert recv_exactly(c, 5) == b"hello"
    reset(c)
    d.wait_conns(1)
    with connect(port) as c:
        c.sendall(b"RST please")
        try:
            recv_all(c)
        except ConnectionResetError:
            pass
    ends = sorted(x["end"] for x in d.wait_conns(2))
    assert ends == ["client_reset", "server_reset"]
    rows = stat_rows(stats_query(sock, "show stat")[0])
    check_row(rows[("listener", "front")], errors=1, total=2, cur=0)
    check_row(rows[("backend", "pool")], errors=1, total=2, cur=0)
    check_row(rows[("server", srv.address)], errors=1, total=2, cur=0, bytes_in=15, bytes_out=5)


# ---- the command language ------------------------------------------------

def test_several_commands_on_one_connection_are_answered_in_order(netpolld, servers, tmp_path):
    p = Proxy(netpolld, servers, tmp_path)
    answers = p.ask("show info", "help", "bogus", "show stat", "show conns", "show stat json",
                    "show info")
    assert len(answers) == 7
    assert answers[0].startswith("version: ") and answers[6].startswith("version: ")
    assert answers[1].startswith("show info ")
    assert answers[2].startswith("error: ")
    assert answers[3].startswith("# type,name,")
    assert answers[4] == ""
    assert isinstance(json.loads(answers[5]), list)


def test_help_lists_every_command(netpolld, servers, tmp_path):
    p = Proxy(netpolld, servers, tmp_path)
    (text,) = p.ask("help")
    for cmd in ("show info", "show stat", "show stat json", "show conns",
                "server enable BACKEND/ADDR", "server disable BACKEND/ADDR",
                "server drain BACKEND/ADDR", "reload", "help", "quit"):
        assert re.search(rf"^{re.escape(cmd)}\s", text, re.M), cmd


def test_quit_closes_the_connection_after_the_answers_before_it(netpolld, servers, tmp_path):
    p = Proxy(netpolld, servers, tmp_path)
    answers, rest = split_answers(talk(p.sock, b"show info\nquit\nshow info\n"))
    assert len(answers) == 1 and answers[0].startswith("version: ") and rest == ""


# A mistake, and the start of the answer it must get; the connection
# stays usable for the next command.
MISTAKES = [
    (b"", "error: empty command"),
    (b"   \t ", "error: empty command"),
    (b"bogus", "error: unknown command"),
    (b"show everything", "error: unknown command"),
    (b"show", "error: missing argument"),
    (b"server", "error: missing argument"),
    (b"server enable", "error: missing BACKEND/ADDR"),
    (b"show info now", "error: extra argument"),
    (b"reload please", "error: extra argument"),
    (b"server enable pool", "error: missing '/'"),
    (b"server enable /127.0.0.1:1", "error: empty backend name"),
    (b"server enable pool/", "error: empty server address"),
    (b"server enable p$ol/127.0.0.1:1", "error: invalid backend name"),
    (b"server enable " + b"p" * 65 + b"/127.0.0.1:1", "error: backend name is too long"),
    (b"server drain nope/127.0.0.1:1", "error: no such backend"),
    (b"server disable pool/127.0.0.1:1", "error: no such server"),
    (b"server enable pool/127.0.0.1:1 extra", "error: extra argument"),
    (b"show\0info", "error: NUL byte"),
    (b"show info\0", "error: NUL byte"),
    (b"show\x01info", "error: control character"),
    (b"SHOW INFO", "error: unknown command"),
]


def test_each_malformed_command_gets_an_error_and_the_connection_goes_on(netpolld, servers,
                                                                          tmp_path):
    p = Proxy(netpolld, servers, tmp_path)
    data = b"".join(line + b"\n" for line, _ in MISTAKES) + b"show info\nquit\n"
    answers, rest = split_answers(talk(p.sock, data))
    assert rest == ""
    assert len(answers) == len(MISTAKES) + 1, answers
    for (line, want), got in zip(MISTAKES, answers):
        assert got.startswith(want) and got.count("\n") == 1, (line, got)
    assert answers[-1].startswith("version: ")
    # Each alone on a fresh connection, too; proxying goes on meanwhile.
    for line, want in MISTAKES[:3] + MISTAKES[-4:]:
        answers, _ = split_answers(talk(p.sock, line + b"\nquit\n"))
        assert answers[0].startswith(want), (line, answers)
    assert p.relay_works() in FACTOR
    assert p.d.proc.poll() is None


def test_a_10_kib_line_without_newline_gets_an_error_and_is_closed(netpolld, servers, tmp_path):
    p = Proxy(netpolld, servers, tmp_path)
    held = connect(p.port)
    exchange(held, 50)
    answers, rest = split_answers(talk(p.sock, b"x" * 10240))
    assert answers == ["error: line too long\n"] and rest == ""
    # A good command that long is refused the same way; the daemon is fine.
    answers, rest = split_answers(talk(p.sock, b"show info" + b" " * 10240 + b"\n"))
    assert answers == ["error: line too long\n"]
    assert p.info()["connections_current"] == "1"
    exchange(held, 50)
    held.close()
    assert p.relay_works() in FACTOR


# ---- operator control ----------------------------------------------------

def on_server(p, mark, keep):
    """Opens connections until one reaches MARK's server; the others are
    appended to KEEP (still open). Returns that connection."""
    for _ in range(len(p.servers) + 1):
        s = connect(p.port)
        if exchange(s, 20) == mark:
            return s
        keep.append(s)
    raise AssertionError(f"no connection reached {mark}")


def test_disable_and_drain_take_a_server_out_and_enable_puts_it_back(netpolld, servers, tmp_path):
    p = Proxy(netpolld, servers, tmp_path)
    a, b = p.addr(b"a"), p.addr(b"b")
    wait_until(lambda: min(p.server_row(m)["last_change_s"] for m in (b"a", b"b")) >= 1,
               what="a second since start")

    # disable: MAINT, its last change just now, every new connection to b.
    ok, stat_t = p.ask(f"server disable pool/{a}", "show stat")
    assert ok == f"ok: server pool/{a} is MAINT\n"
    rows = stat_rows(stat_t)
    check_row(rows[("server", a)], status="MAINT")
    check_row(rows[("server", b)], status="UP")
    check_row(rows[("backend", "pool")], status="UP")
    assert rows[("server", a)]["last_change_s"] < rows[("server", b)]["last_change_s"]
    before = p.server_row(b"a")["total"]
    assert [p.relay_works() for _ in range(4)] == [b"b"] * 4
    assert p.server_row(b"a")["total"] == before

    # Saying it again changes nothing, not even the time of the change.
    wait_until(lambda: p.server_row(b"a")["last_change_s"] >= 1, what="a second in MAINT")
    assert p.ask(f"server disable pool/{a}") == [f"ok: server pool/{a} is MAINT\n"]
    assert p.server_row(b"a")["last_change_s"] >= 1

    assert p.ask(f"server enable pool/{a}") == [f"ok: server pool/{a} is UP\n"]
    check_row(p.server_row(b"a"), status="UP")
    assert {p.relay_works() for _ in range(4)} == {b"a", b"b"}

    # drain b while a connection to it is open: that one keeps working.
    others = []
    kept = on_server(p, b"b", others)
    p.settle(1 + len(others))
    assert p.ask(f"server drain pool/{b}") == [f"ok: server pool/{b} is DRAIN\n"]
    rows = p.rows()
    check_row(rows[("server", b)], status="DRAIN", cur=1)
    before = rows[("server", b)]["total"]
    assert [p.relay_works() for _ in range(4)] == [b"a"] * 4
    assert exchange(kept, 5000) == b"b"
    p.settle(1 + len(others))
    check_row(p.server_row(b"b"), status="DRAIN", total=before, cur=1)
    kept.close()
    for s in others:
        s.close()
    p.settle(0)
    check_row(p.server_row(b"b"), status="DRAIN", cur=0)
    assert p.ask(f"server enable pool/{b}") == [f"ok: server pool/{b} is UP\n"]
    assert {p.relay_works() for _ in range(4)} == {b"a", b"b"}


def test_with_every_server_disabled_a_new_client_is_closed_with_no_server(netpolld, servers,
                                                                          tmp_path):
    p = Proxy(netpolld, servers, tmp_path)
    a, b = p.addr(b"a"), p.addr(b"b")
    assert p.ask(f"server disable pool/{a}", f"server drain pool/{b}") == [
        f"ok: server pool/{a} is MAINT\n", f"ok: server pool/{b} is DRAIN\n"]
    check_row(p.rows()[("backend", "pool")], status="DOWN")
    with connect(p.port) as s:
        assert recv_all(s) == b""
    (line,) = p.d.wait_conns(1)
    assert (line["backend"], line["server"], line["end"]) == ("pool", "-", "no_server")
    rows = p.rows()
    check_row(rows[("listener", "front")], total=1, cur=0)
    check_row(rows[("backend", "pool")], total=1, cur=0)
    check_row(rows[("server", a)], total=0)
    check_row(rows[("server", b)], total=0)
    assert p.ask(f"server enable pool/{b}") == [f"ok: server pool/{b} is UP\n"]
    assert p.relay_works() == b"b"


def test_unknown_backend_or_server_is_an_error_and_changes_nothing(netpolld, servers, tmp_path):
    p = Proxy(netpolld, servers, tmp_path)
    before = p.rows()
    answers = p.ask("server disable nope/" + p.addr(b"a"), "server disable pool/127.0.0.1:1",
                    "server drain pool/" + p.addr(b"a").replace("127.0.0.1", "localhost"))
    assert [a.split(":")[0] for a in answers] == ["error"] * 3
    assert "no such backend" in answers[0] and "no such server" in answers[1]
    assert [r["status"] for r in p.rows().values()] == [r["status"] for r in before.values()]


def test_reload_keeps_operator_state_and_counters_of_same_named_objects(netpolld, servers,
                                                                       tmp_path):
    """Same-named listener, backend and servers keep their counters and a
    server its MAINT across a reload, also while a connection made before
    it goes on; a server new in the file starts from zero."""
    p = Proxy(netpolld, servers, tmp_path, marks=(b"a", b"b", b"c"), layout=[b"a", b"b"])
    a, b, c = p.addr(b"a"), p.addr(b"b"), p.addr(b"c")
    assert {p.relay_works() for _ in range(4)} == {b"a", b"b"}
    others = []
    kept = on_server(p, b"b", others)
    for s in others:
        s.close()
    assert p.ask(f"server disable pool/{a}") == [f"ok: server pool/{a} is MAINT\n"]
    p.settle(1)
    before, info = p.rows(), p.info()

    p.rewrite(p.config_text([b"a", b"b", b"c"]))
    assert p.ask("reload") == ["ok: generation 1\n"]
    after = p.info()
    assert (after["generation"], after["last_reload"]) == ("1", "ok")
    for k in ("connections_total", "connections_current", "bytes_in", "bytes_out"):
        assert after[k] == info[k], k
    rows = p.rows()
    assert list(rows) == list(before) + [("server", c)]
    for key, row in before.items():
        assert without(rows[key], "last_change_s", "weight") == \
            without(row, "last_change_s", "weight"), key
    check_row(rows[("backend", "pool")], weight=3)
    check_row(rows[("server", a)], status="MAINT")
    check_row(rows[("server", c)], status="UP", total=0, cur=0, bytes_in=0, bytes_out=0)

    # The connection from before the reload counts into the same numbers.
    assert exchange(kept, 1000) == b"b"
    rows = p.rows()
    for key in (("listener", "front"), ("backend", "pool"), ("server", b)):
        check_row(rows[key], cur=1, bytes_in=before[key]["bytes_in"] + 1000,
                  bytes_out=before[key]["bytes_out"] + 3000)
    kept.close()
    p.settle(0)
    rows = p.rows()
    for key in (("listener", "front"), ("backend", "pool"), ("server", b)):
        check_row(rows[key], cur=0, total=before[key]["total"])
    # a stays in maintenance: new connections go to b and c only.
    assert {p.relay_works() for _ in range(6)} == {b"b", b"c"}
    check_row(p.server_row(b"a"), status="MAINT", total=before[("server", a)]["total"])


def test_two_reloads_on_one_connection_are_each_answered_after_their_own(netpolld, servers,
                                                                        tmp_path):
    """Commands are answered in order: the second `reload` must run (and
    be answered) after the first, and `show info` after both."""
    p = Proxy(netpolld, servers, tmp_path)
    r1, r2, info_t = p.ask("reload", "reload", "show info")
    assert (r1, r2) == ("ok: generation 1\n", "ok: generation 2\n")
    assert parse_info(info_t)["generation"] == "2"


def test_reload_during_a_graceful_stop_is_refused_and_the_stop_goes_on(netpolld, servers,
                                                                      tmp_path):
    p = Proxy(netpolld, servers, tmp_path, global_={"shutdown_timeout": '"60s"'})
    held = connect(p.port)
    exchange(held, 10)
    p.d.signal(signal.SIGTERM)
    wait_until(lambda: p.rows()[("listener", "front")]["status"] == "STOPPED",
               what="the listener STOPPED")
    (answer,) = p.ask("reload")
    assert answer.startswith("error: reload failed\n")
    try:
        relayed = exchange(held, 10)
    except OSError as e:
        relayed = e
    assert relayed in FACTOR, (f"the open connection after the refused reload: {relayed!r}; "
                               f"netpolld exit status {p.d.proc.poll()}")
    held.close()
    assert p.d.wait_exit() == 0


def test_a_broken_reload_reports_every_error_and_keeps_serving(netpolld, servers, tmp_path):
    p = Proxy(netpolld, servers, tmp_path)
    good = p.config_text()
    broken = good.replace('    name = "pool";\n', '    name = "pool";\n    colour = "red";\n'
                          '    connect_timeout = "soon";\n')
    assert broken != good
    p.rewrite(broken)
    (answer,) = p.ask("reload")
    lines = answer.splitlines()
    assert lines[0] == "error: reload failed"
    path = re.escape(p.d.config_path)
    assert len(lines) >= 3, lines
    assert all(re.match(rf"error: {path}:\d+: \S", ln) for ln in lines[1:]), lines
    assert any("colour" in ln for ln in lines) and any("connect_timeout" in ln for ln in lines)
    info = p.info()
    assert info["generation"] == "0"
    assert info["last_reload"].startswith("failed: " + p.d.config_path + ":")
    assert p.relay_works() in FACTOR

    p.rewrite(good)
    assert p.ask("reload") == ["ok: generation 1\n"]
    info = p.info()
    assert (info["generation"], info["last_reload"]) == ("1", "ok")


def test_stats_socket_is_mode_0660_whatever_the_umask(netpolld, servers, tmp_path):
    p = Proxy(netpolld, servers, tmp_path, start={"preexec_fn": lambda: os.umask(0o077)})
    st = os.stat(p.sock)
    assert oct(st.st_mode & 0o777) == oct(0o660)
    assert p.info()["pid"] == str(p.d.pid)


# ---- clients that misbehave ----------------------------------------------

def big_config(port, echo_addr, stats, nservers):
    """Listener "front" over an echo server, and a listener "wide" whose
    backend has NSERVERS (never used) servers: `show stat` gets large."""
    wide = ",\n".join(f'      {{ address = "127.1.{i // 200}.{i % 200 + 1}:9"; }}'
                      for i in range(nservers))
    return (f'global = {{ stats_socket = "{stats}"; }};\n'
            "listeners = (\n"
            f'  {{ name = "front"; listen = "127.0.0.1:{port}"; backend = "pool"; }},\n'
            f'  {{ name = "wide"; listen = "127.0.0.1:{free_port()}"; backend = "wide"; }}\n'
            ");\n"
            "backends = (\n"
            f'  {{ name = "pool"; servers = ( {{ address = "{echo_addr}"; }} ); }},\n'
            f'  {{ name = "wide"; servers = (\n{wide}\n    ); }}\n'
            ");\n")


def bulk_echo(port, nbytes):
    """NBYTES through the proxy to an echo server and back, compared byte
    for byte."""
    data = os.urandom(1 * MiB) * (nbytes // MiB)
    got = bytearray()
    with connect(port) as s:
        sender = threading.Thread(target=s.sendall, args=(data,), daemon=True)
        sender.start()
        while len(got) < len(data):
            b = s.recv(1 << 20)
            if not b:
                break
            got += b
        sender.join(TIMEOUT)
    assert len(got) == len(data) and got == data


def test_a_stats_client_that_never_reads_costs_the_relay_nothing(netpolld, servers, tmp_path):
    echo = servers(handler=echo_handler)
    port = free_port()
    sock = os.path.join(str(tmp_path), "stats.sock")
    d = netpolld(big_config(port, echo.address, sock, 4000))
    idle = [connect(port) for _ in range(40)]       # rows for `show conns`
    wait_until(lambda: parse_info(stats_query(sock, "show info")[0])["connections_current"]
               == "40", what="40 idle connections")
    stuck = []
    for cmd in (b"show stat json\n", b"show conns\n", b"show stat\n"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        s.sendall(cmd * (3000 // len(cmd)))
        stuck.append(s)
    # Each has had more than a socket buffer's worth queued, unread.
    for s in stuck:
        wait_until(lambda: inq(s) >= 64 << 10, what="answers piling up unread")

    bulk_echo(port, 32 * MiB)
    wait_until(lambda: parse_info(stats_query(sock, "show info")[0])["connections_current"]
               == "40", what="the bulk connection's close")
    answers = stats_query(sock, "show info", "show stat json", "show conns")
    assert len(json.loads(answers[1])) == 2 + 2 + 1 + 4000
    assert len(answers[2].splitlines()) == 40
    # Less than what was asked for has reached them: netpolld still holds
    # the rest of their answers.
    assert inq(stuck[0]) < len(answers[1]) + 2
    assert inq(stuck[1]) < (3000 // len(b"show conns\n")) * (len(answers[2]) + 1)
    r = ctl(sock, "info")
    assert r.returncode == 0 and "connections_total: 41" in r.stdout, r
    for s in stuck + idle:
        s.close()
    assert d.proc.poll() is None


def test_beyond_16_stats_clients_the_extra_ones_are_closed(netpolld, servers, tmp_path):
    p = Proxy(netpolld, servers, tmp_path)
    clients = []
    for _ in range(20):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(p.sock)           # blocking: MSG_DONTWAIT below polls it
        clients.append(s)

    def closed(s):
        try:
            return s.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False
    wait_until(lambda: sum(map(closed, clients)) == 4, what="4 clients closed")
    kept = [s for s in clients if not closed(s)]
    assert len(kept) == 16
    # The kept ones are served, the relay too, and one more is refused.
    for s in kept:
        s.settimeout(TIMEOUT)
        s.sendall(b"show info\n")
    for s in kept:
        buf = b""
        while not buf.endswith(b"\n\n"):
            b = s.recv(4096)
            assert b, "a kept client was closed"
            buf += b
        assert buf.startswith(b"version: ")
    assert p.relay_works() in FACTOR
    extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    extra.settimeout(TIMEOUT)
    extra.connect(p.sock)
    assert extra.recv(1) == b""
    extra.close()
    for s in clients:
        s.close()

    def served():
        try:
            return p.ask("show info")[0].startswith("version: ")
        except (AssertionError, OSError):
            return False
    wait_until(served, what="a new client served once the others left")
    assert all(a.startswith("version: ") for a in
               [stats_query(p.sock, "show info")[0] for _ in range(16)])


# ---- netpollctl against the daemon ---------------------------------------

def test_netpollctl_server_control_and_reload_exit_codes(netpolld, servers, tmp_path):
    p = Proxy(netpolld, servers, tmp_path)
    a = p.addr(b"a")
    for verb, status in (("disable", "MAINT"), ("drain", "DRAIN"), ("enable", "UP")):
        r = ctl(p.sock, verb, f"pool/{a}")
        assert (r.returncode, r.stdout, r.stderr) == (0, f"ok: server pool/{a} is {status}\n", "")
        check_row(p.server_row(b"a"), status=status)
    for target, why in ((f"nope/{a}", "no such backend"), ("pool/127.0.0.1:1", "no such server")):
        r = ctl(p.sock, "disable", target)
        assert r.returncode == 1 and r.stdout == "" and r.stderr.startswith("error: ") and \
            why in r.stderr, r

    r = ctl(p.sock, "reload")
    assert (r.returncode, r.stdout) == (0, "ok: generation 1\n"), r
    p.rewrite(p.config_text().replace("log_level", "log_levle"))
    r = ctl(p.sock, "reload")
    assert r.returncode == 1 and r.stdout == "", r
    assert r.stderr.startswith("error: reload failed\n")
    assert re.search(rf"^error: {re.escape(p.d.config_path)}:\d+: .*log_levle", r.stderr, re.M), r
    assert p.info()["generation"] == "1"

    missing = os.path.join(str(tmp_path), "missing.sock")
    r = ctl(missing, "info")
    assert r.returncode == 3 and missing in r.stderr, r
    assert p.relay_works() in FACTOR
