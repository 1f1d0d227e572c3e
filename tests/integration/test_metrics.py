"""The metrics endpoint (SPEC "Metrics endpoint") against the real daemon:
GET /metrics is well-formed Prometheus text 0.0.4 whose values agree
exactly with `show info`/`show stat` and with traffic the test made;
GET /stats is the `show stat json` document; everything else gets the
HTTP status it deserves; and slow or broken clients are cut off at the
deadline without holding up the relay."""
import json
import os
import re
import socket
import threading
import time

import pytest

from conftest import (TIMEOUT, conf_text, connect, free_port, parse_info, parse_stat,
                      recv_all, recv_exactly, stats_query, wait_until)

# Each test server answers every chunk with FACTOR times as many bytes of
# its mark, so bytes_in and bytes_out differ by a known amount.
FACTOR = {b"a": 1, b"b": 3}
NUMERIC = ("cur", "max", "limit", "total", "bytes_in", "bytes_out", "denied", "errors",
           "connect_errors", "retries", "last_change_s")
REQUEST_MAX = 8192      # bytes of request head the endpoint reads
DEADLINE_S = 10         # the whole request must arrive within this

# Families read from `show info`, and from each kind of `show stat` row:
# metric name -> key or column.
PROCESS = {
    "netpolld_generation": "generation",
    "netpolld_process_connections_current": "connections_current",
    "netpolld_process_connections_total": "connections_total",
    "netpolld_process_bytes_in_total": "bytes_in",
    "netpolld_process_bytes_out_total": "bytes_out",
    "netpolld_accept_paused": "accept_paused",
    "netpolld_buffers_in_use": "buffers_in_use",
    "netpolld_pipes_in_use": "pipes_in_use",
    "netpolld_log_dropped_total": "log_dropped",
}
PER_ROW = {
    "listener": {
        "netpolld_connections_current": "cur", "netpolld_connections_max": "max",
        "netpolld_connections_limit": "limit", "netpolld_connections_total": "total",
        "netpolld_bytes_in_total": "bytes_in", "netpolld_bytes_out_total": "bytes_out",
        "netpolld_denied_total": "denied", "netpolld_errors_total": "errors",
    },
    "backend": {
        "netpolld_backend_connections_current": "cur",
        "netpolld_backend_connections_max": "max",
        "netpolld_backend_connections_total": "total",
        "netpolld_backend_bytes_in_total": "bytes_in",
        "netpolld_backend_bytes_out_total": "bytes_out",
        "netpolld_backend_errors_total": "errors",
        "netpolld_backend_connect_errors_total": "connect_errors",
        "netpolld_backend_retries_total": "retries",
    },
    "server": {
        "netpolld_server_connections_current": "cur",
        "netpolld_server_connections_max": "max",
        "netpolld_server_connections_limit": "limit",
        "netpolld_server_connections_total": "total",
        "netpolld_server_bytes_in_total": "bytes_in",
        "netpolld_server_bytes_out_total": "bytes_out",
        "netpolld_server_errors_total": "errors",
        "netpolld_server_connect_errors_total": "connect_errors",
        "netpolld_server_retries_total": "retries",
        "netpolld_server_weight": "weight",
    },
}


# ---- the daemon, its servers, and traffic ---------------------------------

def replier(mark):
    """Handler: each chunk received is answered with FACTOR[mark] times as
    many MARK bytes; EOF closes."""
    def handle(conn):
        while True:
            b = conn.recv(1 << 16)
            if not b:
                break
            conn.sendall(mark * (len(b) * FACTOR[mark]))
        conn.close()
    return handle


def exchange(sock, size):
    """Sends SIZE bytes, reads the whole answer; returns the server's mark."""
    sock.sendall(b"q" * size)
    mark = recv_exactly(sock, 1)
    assert mark in FACTOR, mark
    rest = recv_exactly(sock, size * FACTOR[mark] - 1)
    assert rest == mark * len(rest)
    return mark


class Proxy:
    """netpolld over servers a and b, with a stats socket and /metrics."""

    def __init__(self, netpolld, servers, tmp_path):
        self.servers = {m: servers(handler=replier(m)) for m in FACTOR}
        self.port, self.mport = free_port(), free_port()
        self.sock = os.path.join(str(tmp_path), "stats.sock")
        self.d = netpolld(conf_text(
            f"127.0.0.1:{self.port}", [s.address for s in self.servers.values()],
            global_={"stats_socket": f'"{self.sock}"',
                     "metrics_listen": f'"127.0.0.1:{self.mport}"'}))

    def addr(self, mark):
        return self.servers[mark].address

    def ask(self, *commands):
        return stats_query(self.sock, *commands)

    def relay_works(self):
        with connect(self.port) as s:
            return exchange(s, 100)


def known_traffic(p, sizes=(1000, 2000, 3000, 4000), held_size=500):
    """Closed connections of SIZES, one after another, then one held open.
    Returns ({mark: [connections, bytes_in, bytes_out]}, the held socket)."""
    seen = {m: [0, 0, 0] for m in FACTOR}
    for i, size in enumerate(sizes):
        with connect(p.port) as s:
            mark = exchange(s, size)
            s.shutdown(socket.SHUT_WR)
            assert recv_all(s) == b""
        seen[mark] = [x + y for x, y in zip(seen[mark], (1, size, size * FACTOR[mark]))]
        p.d.wait_conns(i + 1)
    held = connect(p.port)
    mark = exchange(held, held_size)
    seen[mark] = [x + y for x, y in zip(seen[mark], (1, held_size, held_size * FACTOR[mark]))]
    assert all(v[0] for v in seen.values()), "both servers take connections"
    return seen, held


# ---- HTTP -----------------------------------------------------------------

class Response:
    def __init__(self, raw):
        head, sep, self.body = raw.partition(b"\r\n\r\n")
        assert sep, f"no complete response head: {raw[:200]!r}"
        lines = head.decode("latin-1").split("\r\n")
        m = re.fullmatch(r"HTTP/1\.1 (\d{3}) (.+)", lines[0])
        assert m, lines[0]
        self.status, self.reason = int(m[1]), m[2]
        self.headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(": ")
            assert k.lower() not in self.headers, f"{k} twice"
            self.headers[k.lower()] = v

    def text(self):
        return self.body.decode()


def read_response(sock, timeout=TIMEOUT):
    """Everything until the server closes (a reset after the response
    counts as closing), as a Response."""
    sock.settimeout(timeout)
    chunks = []
    try:
        while True:
            b = sock.recv(1 << 16)
            if not b:
                break
            chunks.append(b)
    except ConnectionResetError:
        pass
    return Response(b"".join(chunks))


def http(port, raw):
    """Sends RAW as the request; returns the Response."""
    with connect(port) as s:
        try:
            s.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass            # refused before all of it went: the answer is there
        return read_response(s)


def request(port, path, method="GET"):
    return http(port, f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      f"User-Agent: test\r\nAccept: */*\r\n\r\n".encode())


def check_framing(r):
    assert r.headers["connection"] == "close"
    assert int(r.headers["content-length"]) == len(r.body)


# ---- the exposition format -------------------------------------------------

SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(?:,|$)')


def parse_labels(text):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        assert m, f"bad labels {text!r}"
        assert m[1] not in labels, f"label {m[1]} twice"
        labels[m[1]] = re.sub(r"\\(.)", lambda e: "\n" if e[1] == "n" else e[1], m[2])
        pos = m.end()
    return labels


def parse_exposition(text):
    """Checks the rules of the text format 0.0.4 that a scraper relies
    on, and returns ({family: type}, {(name, labels...): value})."""
    assert text.endswith("\n")
    types, samples, current, helped = {}, {}, None, set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[len("# HELP "):].partition(" ")
            assert name not in helped, f"family {name} described twice"
            assert help_text.strip(), f"{name} has an empty HELP"
            helped.add(name)
            current = name
        elif line.startswith("# TYPE "):
            name, typ = line[len("# TYPE "):].split(" ")
            assert name == current and name not in types, f"TYPE {name} not after its HELP"
            types[name] = typ
        else:
            m = SAMPLE.fullmatch(line)
            assert m, f"not a sample line: {line!r}"
            name, labels, value = m[1], parse_labels(m[2] or ""), m[3]
            # Every sample follows its own family's HELP and TYPE, so one
            # family's samples are contiguous.
            assert name == current and name in types, f"{name} outside its family"
            key = (name, *sorted(labels.items()))
            assert key not in samples, f"sample {key} twice"
            assert re.fullmatch(r"\d+", value), f"{line}: not a plain count"
            samples[key] = int(value)
    return types, samples


def metrics(p):
    r = request(p.mport, "/metrics")
    assert r.status == 200
    return parse_exposition(r.text())[1]


def labels_of(row):
    if row["type"] == "server":
        return (("backend", row["parent"]), ("server", row["name"]))
    return ((row["type"], row["name"]),)


def stat_rows(text):
    rows = parse_stat(text)
    for r in rows:
        for k in NUMERIC:
            r[k] = int(r[k])
        r["weight"] = int(r["weight"]) if r["weight"] else None
    return rows


# ---- /metrics and /stats --------------------------------------------------

def test_metrics_is_well_formed_prometheus_text(netpolld, servers, tmp_path):
    p = Proxy(netpolld, servers, tmp_path)
    known_traffic(p)
    r = request(p.mport, "/metrics")
    assert r.status == 200 and r.reason == "OK"
    assert re.fullmatch(r"text/plain; version=0\.0\.4(; charset=utf-8)?", r.headers["content-type"])
    check_framing(r)
    types, samples = parse_exposition(r.text())
    assert all(n.startswith("netpolld_") for n in types)
    assert set(types.values()) <= {"counter", "gauge"}
    for name, typ in types.items():
        assert (typ == "counter") == name.endswith("_total"), f"{name} is a {typ}"
    assert {k[0] for k in samples} == set(types), "every family has samples here"
    version = parse_info(p.ask("show info")[0])["version"]
    assert samples[("netpolld_build_info", ("version", version))] == 1


def test_metrics_values_agree_exactly_with_show_info_show_stat_and_the_traffic(netpolld, servers,
                                                                              tmp_path):
    p = Proxy(netpolld, servers, tmp_path)
    seen, held = known_traffic(p)
    samples = metrics(p)
    info_t, stat_t = p.ask("show info", "show stat")
    info, rows = parse_info(info_t), stat_rows(stat_t)

    for name, key in PROCESS.items():
        assert samples[(name,)] == int(info[key]), name
    for row in rows:
        for name, col in PER_ROW[row["type"]].items():
            assert samples[(name, *labels_of(row))] == row[col], (name, row["name"])
    for name, table in PER_ROW.items():
        for metric in table:
            n_rows = sum(r["type"] == name for r in rows)
            assert sum(k[0] == metric for k in samples) == n_rows, metric
    assert samples[("netpolld_listener_status", ("listener", "front"), ("status", "OPEN"))] == 1
    assert samples[("netpolld_backend_up", ("backend", "pool"))] == 1
    for m in FACTOR:
        lab = (("backend", "pool"), ("server", p.addr(m)))
        assert samples[("netpolld_server_up", *lab)] == 1
        assert samples[("netpolld_server_status", *lab, ("status", "UP"))] == 1

    # And against what the clients sent and got, exactly.
    n = sum(v[0] for v in seen.values())
    bytes_in, bytes_out = sum(v[1] for v in seen.values()), sum(v[2] for v in seen.values())
    assert bytes_in != bytes_out
    front = ("listener", "front")
    assert samples[("netpolld_connections_total", front)] == n
    assert samples[("netpolld_connections_current", front)] == 1
    assert samples[("netpolld_connections_max", front)] == 1
    assert samples[("netpolld_bytes_in_total", front)] == bytes_in
    assert samples[("netpolld_bytes_out_total", front)] == bytes_out
    assert samples[("netpolld_process_connections_total",)] == n
    assert samples[("netpolld_backend_connections_total", ("backend", "pool"))] == n
    for m, (conns, b_in, b_out) in seen.items():
        lab = (("backend", "pool"), ("server", p.addr(m)))
        assert samples[("netpolld_server_connections_total", *lab)] == conns
        assert samples[("netpolld_server_bytes_in_total", *lab)] == b_in
        assert samples[("netpolld_server_bytes_out_total", *lab)] == b_out
    held.close()
    p.d.wait_conns(n)
    samples = metrics(p)
    assert samples[("netpolld_connections_current", front)] == 0
    assert samples[("netpolld_process_connections_current",)] == 0


def test_server_up_follows_the_operator_state(netpolld, servers, tmp_path):
    """0 for a disabled server; a draining one is still up (it serves its
    open connections); the backend is up while any server takes new ones."""
    p = Proxy(netpolld, servers, tmp_path)
    a, b = p.addr(b"a"), p.addr(b"b")

    def up(s, addr):
        return s[("netpolld_server_up", ("backend", "pool"), ("server", addr))]

    def status(s, addr, st):
        return s.get(("netpolld_server_status", ("backend", "pool"), ("server", addr),
                      ("status", st)))

    assert p.ask(f"server disable pool/{a}")[0].startswith("ok: ")
    s = metrics(p)
    assert (up(s, a), up(s, b)) == (0, 1)
    assert (status(s, a, "MAINT"), status(s, a, "UP")) == (1, None)
    assert s[("netpolld_backend_up", ("backend", "pool"))] == 1

    assert p.ask(f"server drain pool/{b}")[0].startswith("ok: ")
    s = metrics(p)
    assert (up(s, a), up(s, b)) == (0, 1)
    assert status(s, b, "DRAIN") == 1
    assert s[("netpolld_backend_up", ("backend", "pool"))] == 0

    assert p.ask(f"server enable pool/{a}", f"server enable pool/{b}")[1].startswith("ok: ")
    s = metrics(p)
    assert (up(s, a), up(s, b)) == (1, 1)
    assert s[("netpolld_backend_up", ("backend", "pool"))] == 1


def test_head_gives_the_get_headers_and_no_body(netpolld, servers, tmp_path):
    p = Proxy(netpolld, servers, tmp_path)
    known_traffic(p)[1].close()
    for path in ("/metrics", "/stats"):
        # Lengths only grow (uptime, last change): two equal GETs around
        # the HEAD pin its length exactly.
        def pinned():
            before = request(p.mport, path)
            head = request(p.mport, path, "HEAD")
            after = request(p.mport, path)
            return (before, head) if len(before.body) == len(after.body) else None
        get, head = wait_until(pinned, what="two GETs of equal length")
        assert (head.status, head.body) == (200, b"")
        assert head.headers == get.headers


def test_the_query_string_is_ignored(netpolld, servers, tmp_path):
    p = Proxy(netpolld, servers, tmp_path)
    r = request(p.mport, "/metrics?name[]=netpolld_generation")
    assert r.status == 200 and "netpolld_generation 0\n" in r.text()


def test_a_request_split_across_writes_is_answered(netpolld, servers, tmp_path):
    p = Proxy(netpolld, servers, tmp_path)
    with connect(p.mport) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for part in (b"GE", b"T /me", b"trics HTTP/1.1\r", b"\nHost: x\r\n", b"\r", b"\n"):
            s.sendall(part)
        r = read_response(s)
    assert r.status == 200 and "netpolld_generation" in r.text()


def test_stats_is_the_show_stat_json_document(netpolld, servers, tmp_path):
    p = Proxy(netpolld, servers, tmp_path)
    known_traffic(p)
    assert p.ask(f"server drain pool/{p.addr(b'b')}")[0].startswith("ok: ")
    r = request(p.mport, "/stats")
    assert r.status == 200 and r.headers["content-type"].startswith("application/json")
    check_framing(r)
    via_http = json.loads(r.body)
    via_socket = json.loads(p.ask("show stat json")[0])
    assert without_change(via_http) == without_change(via_socket)
    assert [row["status"] for row in via_http if row["type"] == "server"] == ["UP", "DRAIN"]


def without_change(doc):
    return [{k: v for k, v in row.items() if k != "last_change_s"} for row in doc]


# ---- what is not a scrape --------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/metric", "/metrics/", "/metricsx", "/METRICS",
                                  "/stats.json", "/favicon.ico", "/metrics/../stats"])
def test_other_paths_are_404(netpolld, servers, tmp_path, path):
    p = Proxy(netpolld, servers, tmp_path)
    r = request(p.mport, path)
    assert (r.status, r.reason) == (404, "Not Found")
    check_framing(r)
    assert "netpolld_" not in r.text()


def test_head_of_an_unknown_path_is_404_without_a_body(netpolld, servers, tmp_path):
    """A response to HEAD never has content (RFC 9110 9.3.2), errors
    included: a keep-alive client would read it as the next response."""
    p = Proxy(netpolld, servers, tmp_path)
    r = request(p.mport, "/nope", "HEAD")
    assert r.status == 404
    assert r.body == b"", f"HEAD answered with content {r.body!r}"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
def test_other_methods_are_405(netpolld, servers, tmp_path, method):
    p = Proxy(netpolld, servers, tmp_path)
    r = request(p.mport, "/metrics", method)
    assert (r.status, r.reason) == (405, "Method Not Allowed")
    check_framing(r)


def test_405_says_which_methods_are_allowed(netpolld, servers, tmp_path):
    """RFC 9110 15.5.6: a 405 response MUST carry an Allow header."""
    p = Proxy(netpolld, servers, tmp_path)
    r = request(p.mport, "/metrics", "POST")
    assert r.status == 405
    assert "allow" in r.headers, f"405 without Allow: {r.headers}"
    assert {m.strip() for m in r.headers["allow"].split(",")} == {"GET", "HEAD"}


MALFORMED = {
    "garbage": b"hello there\r\n\r\n",
    "tls hello": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 32,
    "http/2 version": b"GET /metrics HTTP/2.0\r\n\r\n",
    "http/1.2 version": b"GET /metrics HTTP/1.2\r\n\r\n",
    "other protocol": b"GET /metrics FTP/1.1\r\n\r\n",
    "no version": b"GET /metrics\r\n\r\n",
    "relative target": b"GET metrics HTTP/1.1\r\n\r\n",
    "two spaces": b"GET  /metrics HTTP/1.1\r\n\r\n",
    "lower-case method": b"get /metrics HTTP/1.1\r\n\r\n",
    "junk after version": b"GET /metrics HTTP/1.1 x\r\n\r\n",
    "header without colon": b"GET /metrics HTTP/1.1\r\nHost\r\n\r\n",
    "folded header": b"GET /metrics HTTP/1.1\r\nHost: a\r\n  b\r\n\r\n",
    "space in header name": b"GET /metrics HTTP/1.1\r\nX Y: z\r\n\r\n",
    "NUL in target": b"GET /met\0rics HTTP/1.1\r\n\r\n",
    "NUL in header": b"GET /metrics HTTP/1.1\r\nHost: a\0b\r\n\r\n",
    "NUL first": b"\0GET /metrics HTTP/1.1\r\n\r\n",
    "bare CR": b"GET /metrics HTTP/1.1\r\r\n\r\n",
}


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_requests_are_400(netpolld, servers, tmp_path, name):
    p = Proxy(netpolld, servers, tmp_path)
    r = http(p.mport, MALFORMED[name])
    assert (r.status, r.reason) == (400, "Bad Request")
    check_framing(r)


def test_a_request_over_8_kib_is_413_and_one_just_under_is_served(netpolld, servers, tmp_path):
    p = Proxy(netpolld, servers, tmp_path)
    head = b"GET /metrics HTTP/1.1\r\nHost: x\r\n"

    def pad(n):
        """A header that makes the request head N bytes long."""
        return b"X-Pad: " + b"a" * (n - len(head) - len(b"X-Pad: \r\n\r\n")) + b"\r\n\r\n"
    assert len(head + pad(REQUEST_MAX)) == REQUEST_MAX
    r = http(p.mport, head + pad(REQUEST_MAX))
    assert r.status == 200, "a head of exactly 8 KiB is served"
    r = http(p.mport, head + pad(REQUEST_MAX + 1))
    assert (r.status, r.reason) == (413, "Content Too Large")
    r = http(p.mport, head + b"".join(b"X-%d: y\r\n" % i for i in range(2000)) + b"\r\n")
    assert r.status == 413
    r = http(p.mport, b"GET /" + b"m" * 20000)
    assert r.status in (400, 413)
    assert p.relay_works() in FACTOR


def test_half_requests_and_drips_get_408_at_the_deadline_while_proxying_goes_on(
        netpolld, servers, tmp_path):
    """15 clients send half a request and then nothing; one more sends a
    byte a second, for ever: all 16 (the endpoint's limit) get 408 when
    the 10 s deadline passes (a drip does not extend it), further clients
    are closed at once, and the relay works throughout."""
    p = Proxy(netpolld, servers, tmp_path)
    relayed = connect(p.port)
    exchange(relayed, 100)
    halves = []
    for _ in range(15):
        s = connect(p.mport)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        halves.append(s)
    dripper = connect(p.mport)
    dripper.sendall(b"GET /metrics HTTP/1.1\r\nX-Drip: ")
    started = time.monotonic()
    stop = threading.Event()
    drips = []

    def drip():
        while not stop.wait(1.0):       # the pace of the drip, not a wait
            try:
                dripper.send(b"a")
            except OSError:
                return
            drips.append(time.monotonic())
    threading.Thread(target=drip, daemon=True).start()

    # All 16 slots taken: the next clients are closed without an answer.
    for _ in range(4):
        with connect(p.mport) as extra:
            extra.settimeout(TIMEOUT)
            try:
                assert extra.recv(1) == b""
            except ConnectionResetError:
                pass
    assert exchange(relayed, 20000) in FACTOR
    assert p.relay_works() in FACTOR

    try:
        r = read_response(dripper, timeout=DEADLINE_S + TIMEOUT)
    finally:
        stop.set()
    assert (r.status, r.reason) == (408, "Request Timeout")
    assert len(drips) >= DEADLINE_S // 2, f"only {len(drips)} drips before the 408"
    assert time.monotonic() - started >= DEADLINE_S - 1
    for s in halves:
        assert read_response(s).status == 408
        s.close()
    dripper.close()
    assert exchange(relayed, 100) in FACTOR
    relayed.close()

    def scraped():
        try:
            return request(p.mport, "/metrics").status == 200
        except (AssertionError, OSError):
            return False
    wait_until(scraped, what="a scrape once the slow clients are gone")
