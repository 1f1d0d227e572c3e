"""The PROXY protocol (haproxy.org proxy-protocol.txt; SPEC "Behaviour users
rely on") against the real daemon.

send_proxy: the server receives exactly one v1 line or v2 header, built here
by hand from the client's and the listener's real addresses, before the
client's bytes, also after a retry and when the client sends nothing.

accept_proxy: v1 and v2 headers (TCP4, TCP6, UNKNOWN, LOCAL, TLVs) are
taken off the stream, whatever their segmentation; the server gets only
the payload; the carried source becomes the client everywhere (log line,
show conns, allow/deny, source balancing, an outgoing header); anything
that is not a header, or a header that does not come within 5 s, ends the
connection with end=proxy_header_error before any server is contacted."""
import fcntl
import os
import random
import re
import signal
import socket
import struct
import termios
import threading
import time

import pytest

from conftest import (TIMEOUT, conf_text, free_port, parse_logfmt, parse_stat,
                      recv_all, stats_query, unix_connect, wait_until)
from conftest import write_config

SIG = b"\r\n\r\n\x00\r\nQUIT\n"
CMD_LOCAL, CMD_PROXY = 0x20, 0x21
FAM_UNSPEC, FAM_TCP4, FAM_TCP6, FAM_UDP4, FAM_UNIX = 0x00, 0x11, 0x21, 0x12, 0x31
HEADER_TIMEOUT_S = 5            # SESSION_PROXY_HEADER_MS


# ---- headers, built by hand ---------------------------------------------------

def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def v1(src, dst, sport, dport):
    proto = "TCP6" if ":" in src else "TCP4"
    return f"PROXY {proto} {src} {dst} {sport} {dport}\r\n".encode()


def v2(cmd, fam, block=b"", tlvs=b""):
    return SIG + bytes([cmd, fam]) + struct.pack("!H", len(block) + len(tlvs)) + block + tlvs


def v2_inet(src, dst, sport, dport, tlvs=b"", cmd=CMD_PROXY):
    f = family_of(src)
    block = (socket.inet_pton(f, src) + socket.inet_pton(f, dst)
             + struct.pack("!HH", sport, dport))
    return v2(cmd, FAM_TCP6 if f == socket.AF_INET6 else FAM_TCP4, block, tlvs)


def tlv(kind, value):
    return bytes([kind]) + struct.pack("!H", len(value)) + value


# ---- servers and clients ------------------------------------------------------

class Recorder:
    """A server that records every byte of each connection it accepts, in
    accept order, and closes when its client has finished sending."""

    def __init__(self, servers, **kw):
        self.lock = threading.Lock()
        self.streams = []           # bytearray per connection
        self.ended = []             # EOF seen, per connection
        self.server = servers(handler=self.handle, **kw)

    @property
    def address(self):
        return self.server.address

    @property
    def accepted(self):
        return self.server.accepted

    def handle(self, conn):
        with self.lock:
            i = len(self.streams)
            self.streams.append(bytearray())
            self.ended.append(False)
        while True:
            b = conn.recv(1 << 16)
            if not b:
                break
            with self.lock:
                self.streams[i] += b
        with self.lock:
            self.ended[i] = True
        conn.close()

    def stream(self, i=0):
        with self.lock:
            return bytes(self.streams[i]) if i < len(self.streams) else None

    def finished(self, count=1):
        """Waits until COUNT connections sent EOF; returns their streams."""
        def done():
            with self.lock:
                return len(self.ended) >= count and all(self.ended[:count])
        wait_until(done, what=f"{count} finished server connections")
        with self.lock:
            return [bytes(s) for s in self.streams]

    def wait_stream(self, want, i=0):
        wait_until(lambda: self.stream(i) is not None and len(self.stream(i)) >= len(want),
                   what=f"{len(want)} bytes at the server")
        assert self.stream(i) == want


def tagged(tag):
    """A server that reads to EOF, then answers TAG and closes."""
    def handle(conn):
        while conn.recv(1 << 16):
            pass
        conn.sendall(tag)
        conn.close()
    return handle


def connect_from(port, src="127.0.0.1", host=None):
    f = family_of(src)
    s = socket.socket(f, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.bind((src, 0))
    s.connect((host or ("::1" if f == socket.AF_INET6 else "127.0.0.1"), port))
    return s


def closed_without_data(sock, timeout=TIMEOUT):
    """The proxy closed SOCK (FIN or reset) and sent no byte before that."""
    sock.settimeout(timeout)
    try:
        while True:
            b = sock.recv(1 << 16)
            assert b == b"", f"data from the proxy: {b!r}"
            return True
    except ConnectionResetError:
        return True


def send_tolerant(sock, data):
    """Sends DATA; the proxy may already have reset the connection."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def unsent(sock):
    """Bytes not yet acknowledged by the peer (SIOCOUTQ)."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]


def drip(sock, data):
    """Sends DATA one byte per segment: TCP_NODELAY, and each byte
    acknowledged (so it has reached the proxy's socket) before the next."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(len(data)):
        sock.sendall(data[i:i + 1])
        wait_until(lambda: unsent(sock) == 0, what="the byte acknowledged")
        time.sleep(0.002)


class Proxy:
    """One daemon with listener "front" and a stats socket."""

    def __init__(self, netpolld, tmp_path, listen, servers, listener=None, backend=None,
                 global_=None):
        self.sock_path = os.path.join(str(tmp_path), "stats.sock")
        g = {"stats_socket": f'"{self.sock_path}"'}
        g.update(global_ or {})
        self.d = netpolld(conf_text(listen, servers, global_=g, listener=listener,
                                    backend=backend))

    def conns(self):
        text = stats_query(self.sock_path, "show conns")[0]
        return [parse_logfmt(ln) for ln in text.splitlines()]

    def listener_row(self):
        rows = parse_stat(stats_query(self.sock_path, "show stat")[0])
        return next(r for r in rows if r["type"] == "listener")

    def wait_conns(self, n):
        return self.d.wait_conns(n)


def accepting(netpolld, tmp_path, servers, listener=None, **kw):
    port = free_port()
    lst = {"accept_proxy": "true"}
    lst.update(listener or {})
    return Proxy(netpolld, tmp_path, f"127.0.0.1:{port}", servers, listener=lst, **kw), port


def sending(netpolld, tmp_path, listen, servers, version, **kw):
    backend = {"send_proxy": f'"{version}"'}
    backend.update(kw.pop("backend", {}))
    return Proxy(netpolld, tmp_path, listen, servers, backend=backend, **kw)


# ---- send_proxy ---------------------------------------------------------------

def expected_header(version, src, dst):
    """The header for a client at SRC (host, port) that connected to DST."""
    if version == "v1":
        return v1(src[0], dst[0], src[1], dst[1])
    return v2_inet(src[0], dst[0], src[1], dst[1])


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("src", ["127.0.0.1", "127.0.0.2"])
def test_send_proxy_ipv4_header_then_payload(netpolld, servers, tmp_path, version, src):
    rec = Recorder(servers)
    port = free_port()
    p = sending(netpolld, tmp_path, f"127.0.0.1:{port}", rec.address, version)
    payload = b"GET / HTTP/1.0\r\n\r\n" + bytes(range(256)) * 40
    with connect_from(port, src) as c:
        cport = c.getsockname()[1]
        c.sendall(payload)
        c.shutdown(socket.SHUT_WR)
        (got,) = rec.finished(1)
        assert recv_all(c) == b""
    header = expected_header(version, (src, cport), ("127.0.0.1", port))
    if version == "v1":
        assert header == f"PROXY TCP4 {src} 127.0.0.1 {cport} {port}\r\n".encode()
    else:
        assert len(header) == 28
    assert got == header + payload
    (ln,) = p.wait_conns(1)
    # The header is the proxy's, not the client's: not in bytes_in.
    assert ln["bytes_in"] == str(len(payload)) and ln["end"] == "client_close"


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_send_proxy_ipv6_header_then_payload(netpolld, servers, tmp_path, version):
    rec = Recorder(servers)
    port = free_port("::1")
    sending(netpolld, tmp_path, f"[::1]:{port}", rec.address, version)
    with connect_from(port, "::1") as c:
        cport = c.getsockname()[1]
        c.sendall(b"hello six")
        c.shutdown(socket.SHUT_WR)
        (got,) = rec.finished(1)
    header = expected_header(version, ("::1", cport), ("::1", port))
    if version == "v1":
        assert header == f"PROXY TCP6 ::1 ::1 {cport} {port}\r\n".encode()
    else:
        assert len(header) == 52
    assert got == header + b"hello six"


def test_send_proxy_v2_bytes_are_exactly_as_specified(netpolld, servers, tmp_path):
    """The v2 header spelled out byte by byte, not through the helper."""
    rec = Recorder(servers)
    port = free_port()
    sending(netpolld, tmp_path, f"127.0.0.1:{port}", rec.address, "v2")
    with connect_from(port, "127.0.0.9") as c:
        cport = c.getsockname()[1]
        c.sendall(b"!")
        c.shutdown(socket.SHUT_WR)
        (got,) = rec.finished(1)
    want = (b"\x0d\x0a\x0d\x0a\x00\x0d\x0a\x51\x55\x49\x54\x0a"    # signature
            + b"\x21"                                                  # v2, PROXY
            + b"\x11"                                                  # TCP over IPv4
            + b"\x00\x0c"                                              # 12 bytes follow
            + bytes([127, 0, 0, 9]) + bytes([127, 0, 0, 1])
            + bytes([cport >> 8, cport & 0xff, port >> 8, port & 0xff]))
    assert got == want + b"!"


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_send_proxy_destination_is_the_address_the_client_connected_to(
        netpolld, servers, tmp_path, version):
    rec = Recorder(servers)
    port = free_port()
    sending(netpolld, tmp_path, f"0.0.0.0:{port}", rec.address, version)
    with connect_from(port, "127.0.0.3", host="127.0.0.7") as c:
        cport = c.getsockname()[1]
        c.sendall(b"x")
        c.shutdown(socket.SHUT_WR)
        (got,) = rec.finished(1)
    assert got == expected_header(version, ("127.0.0.3", cport), ("127.0.0.7", port)) + b"x"


@pytest.mark.parametrize("version,header", [
    ("v1", b"PROXY UNKNOWN\r\n"),
    ("v2", SIG + b"\x20\x00\x00\x00"),
])
def test_send_proxy_for_a_unix_client(netpolld, servers, tmp_path, version, header):
    rec = Recorder(servers)
    path = os.path.join(str(tmp_path), "front.sock")
    p = sending(netpolld, tmp_path, f"unix:{path}", rec.address, version)
    with unix_connect(path) as c:
        c.sendall(b"from a unix socket")
        c.shutdown(socket.SHUT_WR)
        (got,) = rec.finished(1)
        assert recv_all(c) == b""
    assert got == header + b"from a unix socket"
    (ln,) = p.wait_conns(1)
    assert ln["end"] == "client_close"


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_send_proxy_client_that_sends_nothing_and_half_closes(netpolld, servers, tmp_path,
                                                              version):
    rec = Recorder(servers)
    port = free_port()
    p = sending(netpolld, tmp_path, f"127.0.0.1:{port}", rec.address, version)
    with connect_from(port) as c:
        cport = c.getsockname()[1]
        c.shutdown(socket.SHUT_WR)
        (got,) = rec.finished(1)
        assert recv_all(c) == b""
    assert got == expected_header(version, ("127.0.0.1", cport), ("127.0.0.1", port))
    (ln,) = p.wait_conns(1)
    assert ln["bytes_in"] == "0" and ln["server"] == rec.address


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_send_proxy_header_goes_before_a_server_that_speaks_first(netpolld, servers, tmp_path,
                                                                 version):
    """A server that greets first still got the header first, and the
    client gets the greeting (the header is not echoed to it)."""
    seen = []

    def greeter(conn):
        conn.sendall(b"220 ready\r\n")
        buf = b""
        while True:
            b = conn.recv(1 << 16)
            if not b:
                break
            buf += b
        seen.append(buf)
        conn.close()

    srv = servers(handler=greeter)
    port = free_port()
    sending(netpolld, tmp_path, f"127.0.0.1:{port}", srv.address, version)
    with connect_from(port) as c:
        cport = c.getsockname()[1]
        assert c.recv(11) == b"220 ready\r\n"
        c.sendall(b"QUIT\r\n")
        c.shutdown(socket.SHUT_WR)
        assert recv_all(c) == b""
    wait_until(lambda: seen, what="the server's record")
    assert seen[0] == expected_header(version, ("127.0.0.1", cport),
                                      ("127.0.0.1", port)) + b"QUIT\r\n"


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_send_proxy_header_once_after_a_refused_connect(netpolld, servers, tmp_path, version):
    rec = Recorder(servers)
    dead = f"127.0.0.1:{free_port()}"       # nothing listens: refused
    port = free_port()
    p = sending(netpolld, tmp_path, f"127.0.0.1:{port}", [dead, rec.address], version,
                backend={"retries": 1})
    n = 4
    clients = []
    for i in range(n):
        c = connect_from(port)
        c.sendall(b"early-%d|" % i)         # sent before any server answered
        c.sendall(b"x" * 3000)
        c.shutdown(socket.SHUT_WR)
        clients.append(c)
    streams = rec.finished(n)
    for c in clients:
        assert recv_all(c) == b""
        c.close()
    lines = p.wait_conns(n)
    assert any(ln["retries"] == "1" for ln in lines), lines
    assert all(ln["server"] == rec.address and ln["end"] == "client_close" for ln in lines)
    want = {int(ln["client"].rsplit(":", 1)[1]) for ln in lines}
    assert len(streams) == n
    for s in streams:
        # Which client is this? The header says: match it exactly.
        matches = [cp for cp in want
                   if s.startswith(expected_header(version, ("127.0.0.1", cp),
                                                   ("127.0.0.1", port)))]
        assert len(matches) == 1, s[:80]
        header = expected_header(version, ("127.0.0.1", matches[0]), ("127.0.0.1", port))
        body = s[len(header):]
        m = re.fullmatch(rb"early-(\d)\|x{3000}", body)
        assert m, body[:80]
        assert s.count(header) == 1


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_send_proxy_header_once_after_a_connect_timeout(netpolld, servers, blackhole, tmp_path,
                                                        version):
    """The first server never answers: the client's early bytes wait in the
    proxy for the whole connect timeout, then go once, after one header,
    to the server that answers."""
    rec = Recorder(servers)
    hole = blackhole()
    port = free_port()
    p = sending(netpolld, tmp_path, f"127.0.0.1:{port}", [hole.address, rec.address], version,
                backend={"retries": 1, "connect_timeout": '"300ms"', "balance": '"leastconn"'})
    # leastconn with both idle may pick either; keep connecting until one
    # of them went through the hole first.
    got_retry = False
    for i in range(8):
        with connect_from(port) as c:
            cport = c.getsockname()[1]
            c.sendall(b"early bytes %d" % i)
            c.shutdown(socket.SHUT_WR)
            streams = rec.finished(i + 1)
            assert recv_all(c) == b""
        header = expected_header(version, ("127.0.0.1", cport), ("127.0.0.1", port))
        assert streams[i] == header + b"early bytes %d" % i
        ln = p.wait_conns(i + 1)[i]
        if ln["retries"] == "1":
            got_retry = True
            break
    assert got_retry, p.d.log()


# ---- accept_proxy: what reaches the server, and who the client is --------------

def check_accepted(p, rec, port, header, client, payload=b"hello payload", i=0):
    """Sends HEADER + PAYLOAD, checks the server sees only PAYLOAD, show conns
    names CLIENT while the connection is open, then closes it; returns the
    connection's log line."""
    with connect_from(port) as c:
        c.sendall(header + payload)
        rec.wait_stream(payload, i)
        held = [x for x in p.conns() if x["listener"] == "front"]
        assert len(held) == 1, held
        assert held[0]["client"] == client
        assert held[0]["state"] == "RELAYING"
        c.shutdown(socket.SHUT_WR)
        streams = rec.finished(i + 1)
        assert recv_all(c) == b""
    assert streams[i] == payload
    ln = p.wait_conns(i + 1)[i]
    assert ln["client"] == client
    assert ln["end"] == "client_close"
    assert ln["bytes_in"] == str(len(payload))
    return ln


def test_accept_proxy_v1_tcp4(netpolld, servers, tmp_path):
    rec = Recorder(servers)
    p, port = accepting(netpolld, tmp_path, rec.address)
    check_accepted(p, rec, port, v1("192.0.2.10", "198.51.100.1", 54321, 443),
                   "192.0.2.10:54321")


def test_accept_proxy_v1_tcp6(netpolld, servers, tmp_path):
    rec = Recorder(servers)
    p, port = accepting(netpolld, tmp_path, rec.address)
    check_accepted(p, rec, port, v1("2001:db8::7", "2001:db8::1", 4321, 80),
                   "[2001:db8::7]:4321")


@pytest.mark.parametrize("line", [b"PROXY UNKNOWN\r\n",
                                  b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"])
def test_accept_proxy_v1_unknown_keeps_the_real_client(netpolld, servers, tmp_path, line):
    rec = Recorder(servers)
    p, port = accepting(netpolld, tmp_path, rec.address)
    with connect_from(port, "127.0.0.4") as c:
        real = f"127.0.0.4:{c.getsockname()[1]}"
        c.sendall(line + b"data")
        c.shutdown(socket.SHUT_WR)
        assert rec.finished(1) == [b"data"]
    (ln,) = p.wait_conns(1)
    assert ln["client"] == real


def test_accept_proxy_v2_tcp4(netpolld, servers, tmp_path):
    rec = Recorder(servers)
    p, port = accepting(netpolld, tmp_path, rec.address)
    header = v2_inet("203.0.113.5", "198.51.100.1", 40000, 443)
    assert len(header) == 28
    check_accepted(p, rec, port, header, "203.0.113.5:40000")


def test_accept_proxy_v2_tcp6(netpolld, servers, tmp_path):
    rec = Recorder(servers)
    p, port = accepting(netpolld, tmp_path, rec.address)
    header = v2_inet("2001:db8:1::5", "2001:db8::1", 40001, 443)
    assert len(header) == 52
    check_accepted(p, rec, port, header, "[2001:db8:1::5]:40001")


def test_accept_proxy_v2_tlvs_are_skipped(netpolld, servers, tmp_path):
    rec = Recorder(servers)
    p, port = accepting(netpolld, tmp_path, rec.address)
    tlvs = (tlv(0x01, b"h2") + tlv(0x02, b"example.org") + tlv(0x04, b"\0" * 5)
            + tlv(0x20, b"\x07\0\0\0\0") + tlv(0xE0, b"") + tlv(0x05, bytes(range(200))))
    check_accepted(p, rec, port, v2_inet("198.51.100.77", "192.0.2.1", 1234, 80, tlvs),
                   "198.51.100.77:1234", payload=b"after the TLVs")
    check_accepted(p, rec, port, v2_inet("2001:db8::77", "2001:db8::1", 1235, 80, tlvs),
                   "[2001:db8::77]:1235", payload=b"after six", i=1)


@pytest.mark.parametrize("header", [
    v2(CMD_LOCAL, FAM_UNSPEC),
    v2(CMD_LOCAL, FAM_TCP4, socket.inet_aton("10.9.9.9") * 2 + b"\0\1\0\2"),
    v2(CMD_LOCAL, FAM_UNSPEC, b"", tlv(0x04, b"pad")),
    v2(CMD_PROXY, FAM_UNSPEC),
], ids=["local", "local-with-addresses", "local-with-tlv", "proxy-unspec"])
def test_accept_proxy_v2_local_keeps_the_real_client(netpolld, servers, tmp_path, header):
    rec = Recorder(servers)
    p, port = accepting(netpolld, tmp_path, rec.address)
    with connect_from(port, "127.0.0.6") as c:
        real = f"127.0.0.6:{c.getsockname()[1]}"
        c.sendall(header + b"health check")
        rec.wait_stream(b"health check")
        assert [x["client"] for x in p.conns()] == [real]
        c.shutdown(socket.SHUT_WR)
        assert rec.finished(1) == [b"health check"]
    (ln,) = p.wait_conns(1)
    assert ln["client"] == real and ln["end"] == "client_close"


def test_accept_proxy_header_and_a_large_payload_in_one_write(netpolld, servers, tmp_path):
    rec = Recorder(servers)
    p, port = accepting(netpolld, tmp_path, rec.address)
    payload = random.Random(7).randbytes(300_000)
    with connect_from(port) as c:
        c.sendall(v1("192.0.2.33", "192.0.2.1", 999, 80) + payload)
        c.shutdown(socket.SHUT_WR)
        (got,) = rec.finished(1)
        assert recv_all(c) == b""
    assert got == payload
    (ln,) = p.wait_conns(1)
    assert ln["bytes_in"] == str(len(payload)) and ln["client"] == "192.0.2.33:999"


def test_accept_proxy_header_then_fin_without_payload(netpolld, servers, tmp_path):
    rec = Recorder(servers)
    p, port = accepting(netpolld, tmp_path, rec.address)
    with connect_from(port) as c:
        c.sendall(v2_inet("192.0.2.44", "192.0.2.1", 1000, 80))
        c.shutdown(socket.SHUT_WR)
        assert rec.finished(1) == [b""]
        assert recv_all(c) == b""
    (ln,) = p.wait_conns(1)
    assert ln["client"] == "192.0.2.44:1000" and ln["end"] == "client_close"


def test_accept_proxy_server_answers_reach_the_client(netpolld, servers, tmp_path):
    """Only the header is taken off: the rest relays both ways."""
    def echo(conn):
        while True:
            b = conn.recv(1 << 16)
            if not b:
                break
            conn.sendall(b)
        conn.close()

    srv = servers(handler=echo)
    p, port = accepting(netpolld, tmp_path, srv.address)
    with connect_from(port) as c:
        c.sendall(v1("192.0.2.1", "192.0.2.2", 1, 2) + b"ping")
        assert c.recv(4) == b"ping"
        c.sendall(b"PROXY TCP4 1.1.1.1 2.2.2.2 3 4\r\n")     # now just payload
        want = b"PROXY TCP4 1.1.1.1 2.2.2.2 3 4\r\n"
        got = b""
        while len(got) < len(want):
            got += c.recv(100)
        assert got == want
        c.shutdown(socket.SHUT_WR)
        assert recv_all(c) == b""


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_accept_proxy_header_sent_one_byte_at_a_time(netpolld, servers, tmp_path, kind):
    rec = Recorder(servers)
    p, port = accepting(netpolld, tmp_path, rec.address)
    header = (v1("192.0.2.200", "192.0.2.1", 65535, 8080) if kind == "v1"
              else v2_inet("2001:db8::200", "2001:db8::1", 65535, 8080, tlv(0x04, b"..")))
    with connect_from(port) as c:
        real = f"127.0.0.1:{c.getsockname()[1]}"
        drip(c, header[:-1])
        # Still waiting for the rest: held, as the real client, no server yet.
        (held,) = p.conns()
        assert held["state"] == "PROXY_HEADER" and held["client"] == real
        assert held["server"] == "-"
        assert rec.accepted == 0
        drip(c, header[-1:] + b"ok")
        c.shutdown(socket.SHUT_WR)
        assert rec.finished(1) == [b"ok"]
    (ln,) = p.wait_conns(1)
    want = "192.0.2.200:65535" if kind == "v1" else "[2001:db8::200]:65535"
    assert ln["client"] == want and ln["end"] == "client_close"


# ---- accept_proxy: what is refused ---------------------------------------------

GARBAGE = {
    "http": b"GET / HTTP/1.0\r\n\r\n",
    "random": b"\x01" + random.Random(42).randbytes(63),
    "short-address": b"PROXY TCP4 1.2.3 x\r\n",
    "bad-port": b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
    "leading-zero": b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
    "lone-lf": b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
    "family-mismatch": b"PROXY TCP4 ::1 ::1 1 2\r\n",
    "two-spaces": b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
    "too-few-fields": b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
    "lowercase": b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
    "udp": b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
    "too-long": b"PROXY UNKNOWN " + b"x" * 120 + b"\r\n",
    "v2-version-3": SIG + b"\x31\x11\x00\x0c" + b"\0" * 12,
    "v2-bad-command": SIG + b"\x22\x11\x00\x0c" + b"\0" * 12,
    "v2-udp": SIG + b"\x21\x12\x00\x0c" + b"\0" * 12,
    "v2-short-block": SIG + b"\x21\x11\x00\x08" + b"\0" * 8,
    "v2-bad-tlv": v2_inet("1.2.3.4", "5.6.7.8", 1, 2, b"\x04\x00\x09ab"),
    "v2-too-large": SIG + b"\x21\x11\x20\x00" + b"\0" * 100,
    "bad-signature": b"\r\n\r\n\x00\r\nQUIX\n\x21\x11\x00\x0c" + b"\0" * 12,
}


@pytest.mark.parametrize("name", list(GARBAGE))
def test_accept_proxy_refuses_what_is_not_a_header(netpolld, servers, tmp_path, name):
    rec = Recorder(servers)
    p, port = accepting(netpolld, tmp_path, rec.address)
    with connect_from(port) as c:
        send_tolerant(c, GARBAGE[name])
        # Keep the connection open from our side: the proxy must close it.
        assert closed_without_data(c)
    (ln,) = p.wait_conns(1)
    assert ln["end"] == "proxy_header_error", ln
    assert ln["server"] == "-"
    assert ln["bytes_in"] == "0" and ln["bytes_out"] == "0"
    assert ln["client"].startswith("127.0.0.1:")
    assert rec.accepted == 0
    row = p.listener_row()
    assert row["denied"] == "0" and row["cur"] == "0"


def test_accept_proxy_client_closing_in_the_middle_of_its_header(netpolld, servers, tmp_path):
    rec = Recorder(servers)
    p, port = accepting(netpolld, tmp_path, rec.address)
    with connect_from(port) as c:
        c.sendall(b"PROXY TCP4 192.0.2.1 192.0.2.2 1")
        c.shutdown(socket.SHUT_WR)
        assert closed_without_data(c)
    (ln,) = p.wait_conns(1)
    assert ln["end"] == "proxy_header_error" and ln["server"] == "-"
    assert rec.accepted == 0


def test_accept_proxy_header_must_come_within_five_seconds(netpolld, servers, tmp_path):
    """A client that sends nothing, and ones that stop in the middle of a
    v1 or a v2 header, are all closed by the header timeout (all three at
    once, so the test waits the 5 s once)."""
    rec = Recorder(servers)
    p, port = accepting(netpolld, tmp_path, rec.address)
    sent = [b"", b"PROXY TCP4 192.0.2.1 ", SIG + b"\x21"]
    clients = [connect_from(port, f"127.0.0.{i + 2}") for i in range(len(sent))]
    try:
        for c, data in zip(clients, sent):
            if data:
                c.sendall(data)
        wait_until(lambda: len(p.conns()) == len(sent), what="the connections in show conns")
        assert [x["state"] for x in p.conns()] == ["PROXY_HEADER"] * len(sent)
        assert all(x["server"] == "-" for x in p.conns())
        # Bounded: the 5 s timeout plus generous slack for a loaded machine.
        for c in clients:
            assert closed_without_data(c, timeout=HEADER_TIMEOUT_S + 15)
    finally:
        for c in clients:
            c.close()
    lines = p.wait_conns(len(sent))
    assert sorted(ln["client"].split(":")[0] for ln in lines) == [
        "127.0.0.2", "127.0.0.3", "127.0.0.4"]
    for ln in lines:
        assert ln["end"] == "proxy_header_error" and ln["server"] == "-", ln
        # The timer cannot fire early (a lower bound, not a timing race).
        assert int(ln["duration_ms"]) >= HEADER_TIMEOUT_S * 1000 - 50, ln
    assert rec.accepted == 0
    assert p.conns() == []


def test_accept_proxy_header_timer_ends_once_the_header_is_in(netpolld, servers, tmp_path):
    """A connection whose header came is not cut by the header timeout:
    still relaying well after 5 s."""
    def echo(conn):
        while True:
            b = conn.recv(1 << 16)
            if not b:
                break
            conn.sendall(b)
        conn.close()

    srv = servers(handler=echo)
    p, port = accepting(netpolld, tmp_path, srv.address)
    with connect_from(port) as c:
        c.sendall(v1("192.0.2.3", "192.0.2.1", 3, 80) + b"a")
        assert c.recv(1) == b"a"
        start = time.monotonic()
        # Wait (bounded) until the header deadline has certainly passed.
        wait_until(lambda: time.monotonic() - start > HEADER_TIMEOUT_S + 1,
                   timeout=HEADER_TIMEOUT_S + 5, interval=0.2, what="6 s to pass")
        c.sendall(b"b")
        assert c.recv(1) == b"b"
        (held,) = p.conns()
        assert held["state"] == "RELAYING" and held["client"] == "192.0.2.3:3"
        c.shutdown(socket.SHUT_WR)
        assert recv_all(c) == b""
    (ln,) = p.wait_conns(1)
    assert ln["end"] == "client_close"


def test_accept_proxy_header_larger_than_buffer_size(netpolld, servers, tmp_path):
    rec = Recorder(servers)
    p, port = accepting(netpolld, tmp_path, rec.address, global_={"buffer_size": 1024})
    fits = v2_inet("192.0.2.5", "192.0.2.1", 5, 80, tlv(0x04, b"\0" * 900))
    too_big = v2_inet("192.0.2.6", "192.0.2.1", 6, 80, tlv(0x04, b"\0" * 1500))
    assert len(fits) < 1024 < len(too_big) < 4096
    with connect_from(port) as c:
        c.sendall(fits + b"fits")
        c.shutdown(socket.SHUT_WR)
        assert rec.finished(1) == [b"fits"]
    with connect_from(port) as c:
        send_tolerant(c, too_big + b"too big")
        assert closed_without_data(c)
    lines = p.wait_conns(2)
    assert lines[0]["client"] == "192.0.2.5:5" and lines[0]["end"] == "client_close"
    assert lines[1]["end"] == "proxy_header_error" and lines[1]["server"] == "-"
    assert rec.accepted == 1


def test_accept_proxy_listener_keeps_serving_after_bad_clients(netpolld, servers, tmp_path):
    rec = Recorder(servers)
    p, port = accepting(netpolld, tmp_path, rec.address)
    for g in GARBAGE.values():
        with connect_from(port) as c:
            send_tolerant(c, g)
            assert closed_without_data(c)
    p.wait_conns(len(GARBAGE))
    with connect_from(port) as c:
        c.sendall(v1("192.0.2.99", "192.0.2.1", 9, 80) + b"fine")
        c.shutdown(socket.SHUT_WR)
        assert rec.finished(1) == [b"fine"]
    lines = p.wait_conns(len(GARBAGE) + 1)
    assert lines[-1]["client"] == "192.0.2.99:9"


# ---- accept_proxy: the carried address is the client's ---------------------------

def test_accept_proxy_address_is_checked_by_the_acl(netpolld, servers, tmp_path):
    rec = Recorder(servers)
    p, port = accepting(netpolld, tmp_path, rec.address,
                        listener={"allow": '[ "10.0.0.0/8" ]', "deny": '[ "10.9.0.0/16" ]'})
    cases = [
        (v1("10.1.2.3", "10.0.0.1", 1111, 80), "10.1.2.3:1111", True),
        (v1("192.0.2.1", "10.0.0.1", 2222, 80), "192.0.2.1:2222", False),
        (v2_inet("10.200.0.1", "10.0.0.1", 3333, 80), "10.200.0.1:3333", True),
        (v2_inet("10.9.1.1", "10.0.0.1", 4444, 80), "10.9.1.1:4444", False),  # deny first
        (v2_inet("::ffff:10.1.2.3", "::ffff:10.0.0.1", 5555, 80), "[::ffff:10.1.2.3]:5555", True),
        (v1("::ffff:10.1.2.4", "::ffff:10.0.0.1", 5556, 80), "[::ffff:10.1.2.4]:5556", True),
        (v2_inet("::ffff:192.0.2.1", "::ffff:10.0.0.1", 6666, 80), "[::ffff:192.0.2.1]:6666",
         False),
        (v2_inet("2001:db8::1", "2001:db8::2", 7777, 80), "[2001:db8::1]:7777", False),
        # Only the v4-mapped form stands for an IPv4 client: not the old
        # v4-compatible ::a.b.c.d, nor a NAT64 address.
        (v2_inet("::10.1.2.3", "::10.0.0.1", 7778, 80), "[::10.1.2.3]:7778", False),
        (v2_inet("64:ff9b::10.1.2.3", "64:ff9b::1", 7779, 80), "[64:ff9b::a01:203]:7779",
         False),
        # No address carried: the real client (127.0.0.1) is not allowed.
        (v2(CMD_LOCAL, FAM_UNSPEC), None, False),
        (b"PROXY UNKNOWN\r\n", None, False),
    ]
    served = 0
    for i, (header, client, ok) in enumerate(cases):
        with connect_from(port) as c:
            real = f"127.0.0.1:{c.getsockname()[1]}"
            send_tolerant(c, header + b"payload %d" % i)
            if ok:
                c.shutdown(socket.SHUT_WR)
                streams = rec.finished(served + 1)
                assert streams[served] == b"payload %d" % i
                assert recv_all(c) == b""
                served += 1
            else:
                assert closed_without_data(c)
        ln = p.wait_conns(i + 1)[i]
        assert ln["client"] == (client or real), (i, ln)
        if ok:
            assert ln["end"] == "client_close", (i, ln)
        else:
            assert ln["end"] == "denied" and ln["server"] == "-", (i, ln)
    assert rec.accepted == served
    denied = sum(1 for *_, ok in cases if not ok)
    assert p.listener_row()["denied"] == str(denied)


def test_accept_proxy_address_picks_the_server_with_source_balancing(netpolld, servers,
                                                                     tmp_path):
    tags = [b"A", b"B", b"C"]
    pool = {t: servers(handler=tagged(t)) for t in tags}
    p, port = accepting(netpolld, tmp_path, [s.address for s in pool.values()],
                        backend={"balance": '"source"'})

    def server_for(header):
        with connect_from(port) as c:
            c.sendall(header + b"q")
            c.shutdown(socket.SHUT_WR)
            tag = recv_all(c)
        assert tag in tags, tag
        return tag

    sources = [f"10.{i}.{i * 7 % 256}.{i * 13 % 256}" for i in range(1, 17)]
    first = {src: server_for(v1(src, "10.0.0.1", 1000 + i, 80))
             for i, src in enumerate(sources)}
    # Every connection comes from 127.0.0.1: only the header can spread them.
    assert len(set(first.values())) >= 2, first
    for rnd in range(2):
        for i, src in enumerate(sources):
            # Another port, another header version: the same server.
            header = (v2_inet(src, "10.0.0.1", 2000 + i, 80) if rnd else
                      v1(src, "10.0.0.1", 3000 + i, 80))
            assert server_for(header) == first[src], src
    # A v4-mapped source is the IPv4 client it stands for.
    for i, src in enumerate(sources[:4]):
        assert server_for(v2_inet("::ffff:" + src, "::ffff:10.0.0.1", 4000 + i, 80)) == first[src]
    p.wait_conns(len(sources) * 3 + 4)


# ---- accept_proxy and send_proxy together ---------------------------------------

@pytest.mark.parametrize("incoming", ["v1", "v2"])
def test_incoming_header_address_goes_out_in_the_outgoing_v1_line(netpolld, servers, tmp_path,
                                                                  incoming):
    rec = Recorder(servers)
    p, port = accepting(netpolld, tmp_path, rec.address, backend={"send_proxy": '"v1"'})
    make = v1 if incoming == "v1" else v2_inet
    with connect_from(port) as c:
        c.sendall(make("10.1.2.3", "192.0.2.9", 4321, 8443) + b"payload")
        c.shutdown(socket.SHUT_WR)
        (got,) = rec.finished(1)
    assert got == b"PROXY TCP4 10.1.2.3 192.0.2.9 4321 8443\r\npayload"
    with connect_from(port) as c:
        c.sendall(make("2001:db8::42", "2001:db8::1", 1, 65535) + b"six")
        c.shutdown(socket.SHUT_WR)
        got = rec.finished(2)[1]
    assert got == b"PROXY TCP6 2001:db8::42 2001:db8::1 1 65535\r\nsix"


def test_incoming_header_address_goes_out_in_the_outgoing_v2_header(netpolld, servers,
                                                                    tmp_path):
    rec = Recorder(servers)
    p, port = accepting(netpolld, tmp_path, rec.address, backend={"send_proxy": '"v2"'})
    with connect_from(port) as c:
        c.sendall(v1("10.1.2.3", "192.0.2.9", 4321, 8443) + b"payload")
        c.shutdown(socket.SHUT_WR)
        (got,) = rec.finished(1)
    # TLVs that came in are not passed on: command PROXY, no TLVs.
    assert got == v2_inet("10.1.2.3", "192.0.2.9", 4321, 8443) + b"payload"
    with connect_from(port) as c:
        c.sendall(v2_inet("2001:db8::42", "2001:db8::1", 7, 8, tlv(0x01, b"h2")) + b"six")
        c.shutdown(socket.SHUT_WR)
        got = rec.finished(2)[1]
    assert got == v2_inet("2001:db8::42", "2001:db8::1", 7, 8) + b"six"


@pytest.mark.parametrize("incoming", [b"PROXY UNKNOWN\r\n", v2(CMD_LOCAL, FAM_UNSPEC)],
                         ids=["v1-unknown", "v2-local"])
def test_incoming_header_without_address_sends_the_real_one(netpolld, servers, tmp_path,
                                                            incoming):
    rec = Recorder(servers)
    p, port = accepting(netpolld, tmp_path, rec.address, backend={"send_proxy": '"v1"'})
    with connect_from(port, "127.0.0.8") as c:
        cport = c.getsockname()[1]
        c.sendall(incoming + b"payload")
        c.shutdown(socket.SHUT_WR)
        (got,) = rec.finished(1)
    assert got == v1("127.0.0.8", "127.0.0.1", cport, port) + b"payload"


def test_incoming_header_with_send_proxy_after_a_retry(netpolld, servers, tmp_path):
    rec = Recorder(servers)
    dead = f"127.0.0.1:{free_port()}"
    p, port = accepting(netpolld, tmp_path, [dead, rec.address],
                        backend={"send_proxy": '"v1"', "retries": 1})
    n = 4
    for i in range(n):
        with connect_from(port) as c:
            c.sendall(v1("10.0.0.%d" % (i + 1), "10.0.0.254", 100 + i, 80) + b"early %d" % i)
            c.shutdown(socket.SHUT_WR)
            streams = rec.finished(i + 1)
            assert recv_all(c) == b""
        assert streams[i] == v1("10.0.0.%d" % (i + 1), "10.0.0.254", 100 + i, 80) + b"early %d" % i
    lines = p.wait_conns(n)
    assert any(ln["retries"] == "1" for ln in lines), lines
    assert [ln["client"] for ln in lines] == ["10.0.0.%d:%d" % (i + 1, 100 + i) for i in range(n)]


def test_accept_proxy_on_a_unix_listener(netpolld, servers, tmp_path):
    rec = Recorder(servers)
    path = os.path.join(str(tmp_path), "front.sock")
    p = Proxy(netpolld, tmp_path, f"unix:{path}", rec.address,
              listener={"accept_proxy": "true", "allow": '[ "192.0.2.0/24" ]'},
              backend={"send_proxy": '"v1"'})
    with unix_connect(path) as c:
        c.sendall(v1("192.0.2.50", "192.0.2.1", 5000, 443) + b"via unix")
        c.shutdown(socket.SHUT_WR)
        (got,) = rec.finished(1)
    assert got == v1("192.0.2.50", "192.0.2.1", 5000, 443) + b"via unix"
    with unix_connect(path) as c:           # no address: a unix client, not allowed
        send_tolerant(c, b"PROXY UNKNOWN\r\nnope")
        assert closed_without_data(c)
    lines = p.wait_conns(2)
    assert lines[0]["client"] == "192.0.2.50:5000" and lines[0]["end"] == "client_close"
    assert lines[1]["end"] == "denied"
    assert rec.accepted == 1


# ---- limits, other families, reload ----------------------------------------------

def test_accept_proxy_header_size_limits(netpolld, servers, tmp_path):
    """A header up to buffer_size (here 1024) and up to the parser's 4096
    is taken; one byte more is refused."""
    rec = Recorder(servers)
    p, port = accepting(netpolld, tmp_path, rec.address, global_={"buffer_size": 1024})
    def header_of(total, src):
        # 16 fixed + 12 addresses + one TLV (3 + n) = TOTAL
        return v2_inet(src, "192.0.2.1", 7, 80, tlv(0x04, b"\0" * (total - 16 - 12 - 3)))

    exact = header_of(1024, "192.0.2.10")
    over = header_of(1025, "192.0.2.11")
    assert len(exact) == 1024 and len(over) == 1025
    with connect_from(port) as c:
        c.sendall(exact)
        c.sendall(b"exact")
        c.shutdown(socket.SHUT_WR)
        assert rec.finished(1) == [b"exact"]
    with connect_from(port) as c:
        send_tolerant(c, over + b"over")
        assert closed_without_data(c)
    lines = p.wait_conns(2)
    assert lines[0]["client"] == "192.0.2.10:7" and lines[0]["end"] == "client_close"
    assert lines[1]["end"] == "proxy_header_error"
    assert rec.accepted == 1


def test_accept_proxy_v2_header_of_4096_bytes_is_the_largest(netpolld, servers, tmp_path):
    rec = Recorder(servers)
    p, port = accepting(netpolld, tmp_path, rec.address)    # buffer_size 16384

    def header_of(total, src):
        return v2_inet(src, "192.0.2.1", 7, 80, tlv(0x04, b"\0" * (total - 16 - 12 - 3)))

    with connect_from(port) as c:
        c.sendall(header_of(4096, "192.0.2.20") + b"largest")
        c.shutdown(socket.SHUT_WR)
        assert rec.finished(1) == [b"largest"]
    with connect_from(port) as c:
        send_tolerant(c, header_of(4097, "192.0.2.21") + b"too large")
        assert closed_without_data(c)
    lines = p.wait_conns(2)
    assert lines[0]["client"] == "192.0.2.20:7" and lines[0]["end"] == "client_close"
    assert lines[1]["end"] == "proxy_header_error"
    assert rec.accepted == 1


def v2_unix(src_path, dst_path):
    block = src_path.ljust(108, b"\0") + dst_path.ljust(108, b"\0")
    return v2(CMD_PROXY, FAM_UNIX, block)


def test_accept_proxy_v2_unix_family(netpolld, servers, tmp_path):
    """A v2 header for a unix stream client: the client is that path; it
    matches no IP rule; an outgoing header cannot carry it (UNKNOWN)."""
    rec = Recorder(servers)
    p, port = accepting(netpolld, tmp_path, rec.address, backend={"send_proxy": '"v1"'})
    with connect_from(port) as c:
        c.sendall(v2_unix(b"/run/app/client.sock", b"/run/app/front.sock") + b"unix payload")
        c.shutdown(socket.SHUT_WR)
        (got,) = rec.finished(1)
    assert got == b"PROXY UNKNOWN\r\nunix payload"
    (ln,) = p.wait_conns(1)
    assert ln["client"] == "unix:/run/app/client.sock"


def test_accept_proxy_v2_unix_family_is_denied_by_an_allow_list(netpolld, servers, tmp_path):
    rec = Recorder(servers)
    p, port = accepting(netpolld, tmp_path, rec.address,
                        listener={"allow": '[ "0.0.0.0/0", "::/0" ]'})
    with connect_from(port) as c:
        send_tolerant(c, v2_unix(b"/run/app/client.sock", b"/run/app/front.sock") + b"x")
        assert closed_without_data(c)
    (ln,) = p.wait_conns(1)
    assert ln["end"] == "denied" and ln["client"] == "unix:/run/app/client.sock"
    assert rec.accepted == 0


def test_reload_turns_accept_proxy_on_and_off(netpolld, servers, tmp_path):
    rec = Recorder(servers)
    port = free_port()

    def config(on):
        return conf_text(f"127.0.0.1:{port}", rec.address,
                         listener={"accept_proxy": "true" if on else "false"})

    d = netpolld(config(False))
    header = v1("192.0.2.77", "192.0.2.1", 77, 80)
    with connect_from(port) as c:
        c.sendall(header + b"one")
        c.shutdown(socket.SHUT_WR)
        assert rec.finished(1)[0] == header + b"one"       # plain payload then
    for gen, on in ((1, True), (2, False)):
        write_config(d.config_path, config(on))
        d.signal(signal.SIGHUP)
        d.wait_log(r" info reload: generation %d serving" % gen)
        with connect_from(port) as c:
            c.sendall(header + b"n%d" % gen)
            c.shutdown(socket.SHUT_WR)
            got = rec.finished(gen + 1)[gen]
        assert got == (b"n1" if on else header + b"n2")
    lines = d.wait_conns(3)
    assert [ln["client"].split(":")[0] for ln in lines] == ["127.0.0.1", "192.0.2.77",
                                                           "127.0.0.1"]


def test_longest_v1_line_is_sent_whole(netpolld, servers, tmp_path):
    """The longest TCP6 line there is (104 bytes) fits the header buffer."""
    rec = Recorder(servers)
    p, port = accepting(netpolld, tmp_path, rec.address, backend={"send_proxy": '"v1"'})
    src, dst = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
    with connect_from(port) as c:
        c.sendall(v2_inet(src, dst, 65535, 65534) + b"long")
        c.shutdown(socket.SHUT_WR)
        (got,) = rec.finished(1)
    line = f"PROXY TCP6 {src} {dst} 65535 65534\r\n".encode()
    assert len(line) == 104
    assert got == line + b"long"
    # And taken back in by a listener that accepts it.
    with connect_from(port) as c:
        c.sendall(line + b"again")
        c.shutdown(socket.SHUT_WR)
        assert rec.finished(2)[1] == line + b"again"


def test_header_completed_after_a_reload_is_judged_by_the_rules_it_was_accepted_under(
        netpolld, servers, tmp_path):
    """Connections keep the generation they were accepted in (SPEC
    "Reload"): one still reading its header when a reload swaps the allow
    list is admitted or denied by the old list; new ones by the new list;
    the listener's counters are the same across both."""
    rec = Recorder(servers)
    port = free_port()
    sock_path = os.path.join(str(tmp_path), "stats.sock")

    def config(allow):
        return conf_text(f"127.0.0.1:{port}", rec.address,
                         global_={"stats_socket": f'"{sock_path}"'},
                         listener={"accept_proxy": "true", "allow": f'[ "{allow}" ]'})

    d = netpolld(config("10.0.0.0/8"))
    old_denied, old_allowed = connect_from(port), connect_from(port)
    try:
        old_denied.sendall(b"PROXY TCP4 192.0.2.1 ")
        old_allowed.sendall(b"PROXY TCP4 10.1.2.3 ")

        def in_header():
            rows = stats_query(sock_path, "show conns")[0].splitlines()
            return len(rows) == 2 and all("state=PROXY_HEADER" in r for r in rows)
        wait_until(in_header, what="two connections reading their header")
        write_config(d.config_path, config("192.0.2.0/24"))
        d.signal(signal.SIGHUP)
        d.wait_log(r" info reload: generation 1 serving")
        old_denied.sendall(b"192.0.2.9 1 2\r\nA")
        old_allowed.sendall(b"192.0.2.9 3 4\r\nB")
        assert closed_without_data(old_denied)
        rec.wait_stream(b"B")
        old_allowed.shutdown(socket.SHUT_WR)
        rec.finished(1)
    finally:
        old_denied.close()
        old_allowed.close()
    with connect_from(port) as c:                   # new: the new list
        c.sendall(v1("192.0.2.1", "192.0.2.9", 5, 6) + b"C")
        c.shutdown(socket.SHUT_WR)
        assert rec.finished(2)[1] == b"C"
    with connect_from(port) as c:
        send_tolerant(c, v1("10.1.2.3", "192.0.2.9", 7, 8) + b"D")
        assert closed_without_data(c)
    lines = d.wait_conns(4)
    ends = sorted((ln["client"], ln["end"]) for ln in lines)
    assert ends == sorted([("192.0.2.1:1", "denied"), ("10.1.2.3:3", "client_close"),
                           ("192.0.2.1:5", "client_close"), ("10.1.2.3:7", "denied")])
    rows = parse_stat(stats_query(sock_path, "show stat")[0])
    (row,) = [r for r in rows if r["type"] == "listener"]
    assert row["denied"] == "2" and row["total"] == "4"
