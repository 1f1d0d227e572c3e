"""Listener allow/deny lists (SPEC "Configuration", listeners `allow` and
`deny`) against the real daemon: deny is checked first; an allow list, once
present, denies every client it does not match; a denied client is closed
with no byte sent and never reaches a server; it is logged with end=denied
and server=-, and counted in the listener's `denied` (show stat, /metrics).

Client source addresses come from binding the client socket to another
loopback address (any 127.x.y.z works on Linux) before connecting."""
import errno
import os
import re
import signal
import socket
import subprocess

import pytest

from conftest import (BINARY, SANITIZER_MARKS, TIMEOUT, conf_text, free_port, parse_stat, stats_query,
                      wait_until)
from conftest import write_config


# ---- helpers ----------------------------------------------------------------

def connect_from(port, src, host=None, timeout=TIMEOUT):
    """A client socket bound to SRC, connected to HOST:PORT (HOST defaults
    to the loopback of SRC's family)."""
    family = socket.AF_INET6 if ":" in src else socket.AF_INET
    host = host or ("::1" if family == socket.AF_INET6 else "127.0.0.1")
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect((host, port))
    return s


def exchange(sock, payload=b"ping"):
    """Sends PAYLOAD, half-closes, reads to the end. Returns the bytes the
    proxy answered, or None if it reset the connection (a denied client
    that had sent bytes is answered with a reset by the kernel)."""
    try:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
    except (BrokenPipeError, ConnectionResetError):
        return None
    except OSError as e:        # shutdown() after the reset arrived
        if e.errno != errno.ENOTCONN:
            raise
        return None
    chunks = []
    try:
        while True:
            b = sock.recv(1 << 16)
            if not b:
                return b"".join(chunks)
            chunks.append(b)
    except ConnectionResetError:
        assert not chunks, f"data before a reset: {chunks!r}"
        return None


def served(port, src, host=None, payload=b"ping"):
    """True when a client from SRC gets its echo; False when it is closed
    with no byte at all. Anything else fails the test."""
    with connect_from(port, src, host) as s:
        got = exchange(s, payload)
    if got == payload:
        return True
    assert got in (b"", None), f"client from {src} got {got!r}: neither served nor denied"
    return False


def listener_row(sock_path, name="front"):
    rows = parse_stat(stats_query(sock_path, "show stat")[0])
    return next(r for r in rows if r["type"] == "listener" and r["name"] == name)


def metrics_sample(mport, name, labels):
    """The value of sample NAME{LABELS} from GET /metrics."""
    s = socket.create_connection(("127.0.0.1", mport), timeout=TIMEOUT)
    with s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        raw = b""
        try:
            while True:
                b = s.recv(1 << 16)
                if not b:
                    break
                raw += b
        except ConnectionResetError:
            pass
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    want = f"{name}{{{labels}}} "
    lines = [ln for ln in body.decode().splitlines() if ln.startswith(want)]
    assert len(lines) == 1, f"{want!r} in:\n{body.decode()}"
    return int(lines[0][len(want):])


def rules(*cidrs):
    return "[ " + ", ".join(f'"{c}"' for c in cidrs) + " ]"


def start(netpolld, listen, server, tmp_path, listener, metrics=False):
    """A daemon with a stats socket (and /metrics if METRICS); returns
    (daemon, stats socket path, metrics port or None)."""
    sock_path = os.path.join(str(tmp_path), "stats.sock")
    g = {"stats_socket": f'"{sock_path}"'}
    mport = None
    if metrics:
        mport = free_port()
        g["metrics_listen"] = f'"127.0.0.1:{mport}"'
    d = netpolld(conf_text(listen, server.address, global_=g, listener=listener))
    return d, sock_path, mport


def by_client_host(lines):
    """Connection log lines keyed by the client's host part."""
    out = {}
    for ln in lines:
        host = ln["client"].rsplit(":", 1)[0].strip("[]")
        out.setdefault(host, []).append(ln)
    return out


# ---- IPv4 -------------------------------------------------------------------

def test_allow_list_admits_its_network_and_denies_every_other_client(
        netpolld, servers, tmp_path):
    srv = servers()
    port = free_port()
    d, sock_path, _ = start(netpolld, f"127.0.0.1:{port}", srv, tmp_path,
                            {"allow": rules("127.0.0.2/32")})
    assert served(port, "127.0.0.2")
    assert not served(port, "127.0.0.3")
    assert not served(port, "127.0.0.1")
    assert served(port, "127.0.0.2")
    lines = by_client_host(d.wait_conns(4))
    assert [ln["end"] for ln in lines["127.0.0.2"]] == ["client_close"] * 2
    for host in ("127.0.0.3", "127.0.0.1"):
        (ln,) = lines[host]
        assert ln["end"] == "denied" and ln["server"] == "-"
    assert srv.accepted == 2
    assert listener_row(sock_path)["denied"] == "2"


def test_deny_is_checked_before_allow(netpolld, servers, tmp_path):
    srv = servers()
    port = free_port()
    d, sock_path, _ = start(netpolld, f"127.0.0.1:{port}", srv, tmp_path,
                            {"allow": rules("127.0.0.0/8"), "deny": rules("127.0.0.0/24")})
    assert not served(port, "127.0.0.5")        # in both lists: deny wins
    assert not served(port, "127.0.0.1")
    assert served(port, "127.1.0.1")            # allowed, not denied
    assert served(port, "127.0.1.0")            # just past the /24
    lines = by_client_host(d.wait_conns(4))
    assert lines["127.0.0.5"][0]["end"] == "denied"
    assert lines["127.1.0.1"][0]["end"] == "client_close"
    assert srv.accepted == 2
    assert listener_row(sock_path)["denied"] == "2"


@pytest.mark.parametrize("rule,inside,outside", [
    ("127.0.0.128/25", ["127.0.0.128", "127.0.0.129", "127.0.0.255"],
     ["127.0.0.127", "127.0.1.128", "127.0.0.1"]),
    ("127.0.0.2/31", ["127.0.0.2", "127.0.0.3"], ["127.0.0.1", "127.0.0.4"]),
    ("127.64.0.0/10", ["127.64.0.1", "127.127.255.254"], ["127.63.255.255", "127.128.0.1"]),
    ("127.0.0.4/30", ["127.0.0.4", "127.0.0.7"], ["127.0.0.3", "127.0.0.8"]),
])
def test_prefixes_that_end_inside_a_byte(netpolld, servers, tmp_path, rule, inside, outside):
    srv = servers()
    port = free_port()
    d, sock_path, _ = start(netpolld, f"127.0.0.1:{port}", srv, tmp_path,
                            {"allow": rules(rule)})
    for src in inside:
        assert served(port, src), src
    for src in outside:
        assert not served(port, src), src
    d.wait_conns(len(inside) + len(outside))
    assert srv.accepted == len(inside)
    assert listener_row(sock_path)["denied"] == str(len(outside))


def test_deny_list_alone_admits_everyone_else(netpolld, servers, tmp_path):
    srv = servers()
    port = free_port()
    d, sock_path, _ = start(netpolld, f"127.0.0.1:{port}", srv, tmp_path,
                            {"deny": '"127.0.0.2"'})          # a single host, one string
    assert not served(port, "127.0.0.2")
    assert served(port, "127.0.0.3")
    assert served(port, "127.0.0.1")
    d.wait_conns(3)
    assert srv.accepted == 2
    assert listener_row(sock_path)["denied"] == "1"


def test_client_matching_no_allow_rule_is_denied(netpolld, servers, tmp_path):
    srv = servers()
    port = free_port()
    d, sock_path, _ = start(netpolld, f"127.0.0.1:{port}", srv, tmp_path,
                            {"allow": rules("10.0.0.0/8", "192.168.0.0/16", "::1/128")})
    for src in ("127.0.0.1", "127.0.0.9", "127.10.0.1"):
        assert not served(port, src)
    d.wait_conns(3)
    assert srv.accepted == 0
    assert listener_row(sock_path)["denied"] == "3"


def test_empty_allow_list_denies_everyone(netpolld, servers, tmp_path):
    srv = servers()
    port = free_port()
    d, sock_path, _ = start(netpolld, f"127.0.0.1:{port}", srv, tmp_path,
                            {"allow": "[ ]"})
    assert not served(port, "127.0.0.1")
    assert not served(port, "127.0.0.2")
    d.wait_conns(2)
    assert srv.accepted == 0
    assert listener_row(sock_path)["denied"] == "2"


def test_zero_prefix_allow_admits_every_ipv4_client_and_no_ipv6_one(netpolld, servers, tmp_path):
    srv = servers()
    port, port6 = free_port(), free_port("::1")
    d, sock_path, _ = start(netpolld, [f"127.0.0.1:{port}", f"[::1]:{port6}"], srv, tmp_path,
                            {"allow": rules("0.0.0.0/0")})
    for src in ("127.0.0.1", "127.0.0.2", "127.0.0.254", "127.3.2.1", "127.255.255.254"):
        assert served(port, src), src
    assert not served(port6, "::1")              # 0.0.0.0/0 is every IPv4 address only
    d.wait_conns(6)
    assert srv.accepted == 5
    assert listener_row(sock_path)["denied"] == "1"


def test_zero_prefix_deny_denies_every_ipv4_client(netpolld, servers, tmp_path):
    srv = servers()
    port, port6 = free_port(), free_port("::1")
    d, sock_path, _ = start(netpolld, [f"127.0.0.1:{port}", f"[::1]:{port6}"], srv, tmp_path,
                            {"deny": rules("0.0.0.0/0")})
    for src in ("127.0.0.1", "127.0.0.2", "127.200.0.1"):
        assert not served(port, src), src
    assert served(port6, "::1")
    d.wait_conns(4)
    assert srv.accepted == 1


# ---- IPv6 -------------------------------------------------------------------

def test_ipv6_allow_admits_loopback(netpolld, servers, tmp_path):
    srv = servers()
    port6 = free_port("::1")
    d, sock_path, _ = start(netpolld, f"[::1]:{port6}", srv, tmp_path,
                            {"allow": rules("::1/128")})
    assert served(port6, "::1")
    (ln,) = d.wait_conns(1)
    assert ln["client"].startswith("[::1]:") and ln["end"] == "client_close"
    assert srv.accepted == 1
    assert listener_row(sock_path)["denied"] == "0"


@pytest.mark.parametrize("deny", ['"::1"', rules("::1/128"), rules("::/0"), rules("::/127")])
def test_ipv6_deny_denies_loopback(netpolld, servers, tmp_path, deny):
    srv = servers()
    port6 = free_port("::1")
    d, sock_path, _ = start(netpolld, f"[::1]:{port6}", srv, tmp_path, {"deny": deny})
    assert not served(port6, "::1")
    (ln,) = d.wait_conns(1)
    assert ln["client"].startswith("[::1]:")
    assert ln["end"] == "denied" and ln["server"] == "-"
    assert srv.accepted == 0
    assert listener_row(sock_path)["denied"] == "1"


def test_ipv6_rules_do_not_match_other_ipv6_clients(netpolld, servers, tmp_path):
    srv = servers()
    port6 = free_port("::1")
    d, sock_path, _ = start(netpolld, f"[::1]:{port6}", srv, tmp_path,
                            {"allow": rules("::2/128", "2001:db8::/32", "fe80::/10")})
    assert not served(port6, "::1")
    d.wait_conns(1)
    assert srv.accepted == 0


def test_mixed_families_on_one_listener(netpolld, servers, tmp_path):
    srv = servers()
    port, port6 = free_port(), free_port("::1")
    d, sock_path, _ = start(netpolld, [f"127.0.0.1:{port}", f"[::1]:{port6}"], srv, tmp_path,
                            {"allow": rules("127.0.0.2/32", "::1/128")})
    assert served(port6, "::1")
    assert served(port, "127.0.0.2")
    assert not served(port, "127.0.0.1")
    d.wait_conns(3)
    assert srv.accepted == 2
    assert listener_row(sock_path)["denied"] == "1"


# ---- unix clients -------------------------------------------------------------

def unix_served(path, payload=b"ping"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    with s:
        s.connect(path)
        got = exchange(s, payload)
    if got == payload:
        return True
    assert got in (b"", None), got
    return False


def test_unix_client_passes_a_deny_list(netpolld, servers, tmp_path):
    srv = servers()
    path = os.path.join(str(tmp_path), "front.sock")
    d, sock_path, _ = start(netpolld, f"unix:{path}", srv, tmp_path,
                            {"deny": rules("0.0.0.0/0", "::/0")})
    assert unix_served(path)
    (ln,) = d.wait_conns(1)
    assert ln["end"] == "client_close"
    assert srv.accepted == 1


def test_unix_client_is_denied_by_any_allow_list(netpolld, servers, tmp_path):
    srv = servers()
    path = os.path.join(str(tmp_path), "front.sock")
    d, sock_path, _ = start(netpolld, f"unix:{path}", srv, tmp_path,
                            {"allow": rules("0.0.0.0/0", "::/0")})
    assert not unix_served(path)
    (ln,) = d.wait_conns(1)
    assert ln["end"] == "denied" and ln["server"] == "-"
    assert srv.accepted == 0
    assert listener_row(sock_path)["denied"] == "1"


# ---- what a denied client sees, and how it is counted -------------------------

def test_denied_client_gets_no_byte_and_is_counted_everywhere(netpolld, servers, tmp_path):
    greeting = b"220 hello from the server\r\n"

    def greeter(conn):          # speaks first: a leak would reach the client
        conn.sendall(greeting)
        while conn.recv(1 << 16):
            pass
        conn.close()

    srv = servers(handler=greeter)
    port = free_port()
    d, sock_path, mport = start(netpolld, f"127.0.0.1:{port}", srv, tmp_path,
                                {"allow": rules("127.0.0.2/32")}, metrics=True)
    denied = 0
    # Clients that send nothing and wait: EOF (or a reset), never a byte.
    for src in ("127.0.0.3", "127.0.0.4", "127.0.0.5"):
        with connect_from(port, src) as s:
            try:
                assert s.recv(1 << 16) == b""
            except ConnectionResetError:
                pass
        denied += 1
    # Clients that send first and keep reading.
    for src in ("127.0.0.6", "127.0.0.7"):
        with connect_from(port, src) as s:
            assert exchange(s, b"x" * 5000) in (b"", None)
        denied += 1
    # An allowed client meanwhile gets the server's greeting.
    with connect_from(port, "127.0.0.2") as s:
        assert s.recv(len(greeting)) == greeting
        s.shutdown(socket.SHUT_WR)
        assert s.recv(1) == b""
    lines = d.wait_conns(denied + 1)
    bad = [ln for ln in lines if ln["end"] == "denied"]
    assert len(bad) == denied
    for ln in bad:
        assert ln["server"] == "-"
        assert ln["bytes_in"] == "0" and ln["bytes_out"] == "0"
        assert ln["listener"] == "front" and ln["backend"] == "pool"
        assert ln["retries"] == "0"
    assert sorted(ln["client"].split(":")[0] for ln in bad) == [
        "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"]
    assert srv.accepted == 1
    row = listener_row(sock_path)
    assert row["denied"] == str(denied)
    assert row["total"] == str(denied + 1)
    assert row["cur"] == "0"
    assert row["errors"] == "0"
    assert metrics_sample(mport, "netpolld_denied_total", 'listener="front"') == denied
    # A denied client never reaches the backend's books.
    rows = parse_stat(stats_query(sock_path, "show stat")[0])
    backend = next(r for r in rows if r["type"] == "backend")
    assert backend["total"] == "1"
    assert backend["bytes_in"] == "0"


def test_denied_client_holds_no_connection(netpolld, servers, tmp_path):
    """A denied client is closed at once: it never shows in show conns and
    the listener's current count returns to zero."""
    srv = servers()
    port = free_port()
    d, sock_path, _ = start(netpolld, f"127.0.0.1:{port}", srv, tmp_path,
                            {"deny": rules("127.0.0.3/32")})
    held = connect_from(port, "127.0.0.3")
    try:
        held.settimeout(TIMEOUT)
        try:
            assert held.recv(1) == b""            # closed without us closing
        except ConnectionResetError:
            pass
        d.wait_conns(1)
        assert stats_query(sock_path, "show conns")[0] == ""
        assert listener_row(sock_path)["cur"] == "0"
    finally:
        held.close()


# ---- bad rules in the file ------------------------------------------------------

BAD_RULES_CONF = """\
global = { log_level = "info"; };
listeners = (
  {
    name = "front";
    listen = "127.0.0.1:%(port)d";
    backend = "pool";
    allow = [ "10.0.0.1/8",
              "10.0.0.0/33",
              "::1/129",
              "10.0.0.0/8" ];
    deny = [ "nonsense",
             "10.0.0.0/-1",
             "2001:db8::1/32",
             "192.0.2.0/",
             "1.2.3.4.5" ];
  }
);
backends = ( { name = "pool"; servers = ( { address = "127.0.0.1:%(port)d"; } ); } );
"""
# Line of each bad rule, and the rule as the message quotes it.
BAD_RULES = [(7, "10.0.0.1/8"), (8, "10.0.0.0/33"), (9, "::1/129"),
             (11, "nonsense"), (12, "10.0.0.0/-1"), (13, "2001:db8::1/32"),
             (14, "192.0.2.0/"), (15, "1.2.3.4.5")]


def test_bad_cidr_rules_are_reported_file_line_and_exit_1(tmp_path):
    path = os.path.join(str(tmp_path), "bad.conf")
    with open(path, "w") as f:
        f.write(BAD_RULES_CONF % {"port": free_port()})
    r = subprocess.run([BINARY, "-t", "-c", path], capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "configuration OK" not in r.stdout
    lines = r.stderr.splitlines()
    assert len(lines) == len(BAD_RULES), r.stderr
    for line, (lineno, rule) in zip(lines, BAD_RULES):
        assert line.startswith(f"{path}:{lineno}: "), line
        assert rule in line, line
    # The specific complaints for the kinds of mistake.
    assert re.search(r"host bits", lines[0]), lines[0]
    assert re.search(r"0-32", lines[1]), lines[1]
    assert re.search(r"0-128", lines[2]), lines[2]
    assert re.search(r"host bits", lines[5]), lines[5]


@pytest.mark.parametrize("rule", ["10.0.0.1/8", "10.0.0.0/33", "::1/129", "nonsense",
                                  "", "/8", "10.0.0.0/08", "10.0.0.0/8/8", "::1/12x"])
def test_each_bad_cidr_alone_is_a_configuration_error(tmp_path, rule):
    path = os.path.join(str(tmp_path), "bad.conf")
    port = free_port()
    with open(path, "w") as f:
        f.write(conf_text(f"127.0.0.1:{port}", f"127.0.0.1:{port}",
                          listener={"deny": f'"{rule}"'}))
    r = subprocess.run([BINARY, "-t", "-c", path], capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode == 1, (rule, r.stdout, r.stderr)
    (line,) = r.stderr.splitlines()
    assert re.match(re.escape(path) + r":\d+: ", line), line


def test_good_cidr_rules_pass_the_check(tmp_path):
    path = os.path.join(str(tmp_path), "good.conf")
    port = free_port()
    with open(path, "w") as f:
        f.write(conf_text(f"127.0.0.1:{port}", f"127.0.0.1:{port}", listener={
            "allow": rules("0.0.0.0/0", "10.0.0.0/8", "192.0.2.7", "192.0.2.7/32", "::/0",
                           "::1/128", "2001:db8::/32", "::ffff:10.0.0.0/104", "fe80::/10"),
            "deny": '"10.1.0.0/16"'}))
    r = subprocess.run([BINARY, "-t", "-c", path], capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert (r.returncode, r.stdout, r.stderr) == (0, "configuration OK\n", "")


def test_start_with_a_bad_rule_exits_1_and_listens_nowhere(tmp_path):
    path = os.path.join(str(tmp_path), "bad.conf")
    port = free_port()
    with open(path, "w") as f:
        f.write(conf_text(f"127.0.0.1:{port}", f"127.0.0.1:{port}",
                          listener={"allow": rules("127.0.0.1/8")}))
    r = subprocess.run([BINARY, "-c", path], capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert re.search(re.escape(path) + r":\d+: .*127\.0\.0\.1/8", r.stderr), r.stderr
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


# ---- reload -------------------------------------------------------------------

def reload_to(d, text, generation):
    write_config(d.config_path, text)
    d.signal(signal.SIGHUP)
    d.wait_log(r" info reload: generation %d serving" % generation)


def test_reload_changes_the_rules_for_new_connections(netpolld, servers, tmp_path):
    srv = servers()
    port = free_port()
    sock_path = os.path.join(str(tmp_path), "stats.sock")

    def config(listener):
        return conf_text(f"127.0.0.1:{port}", srv.address,
                         global_={"stats_socket": f'"{sock_path}"'}, listener=listener)

    d = netpolld(config({"allow": rules("127.0.0.2/32")}))
    assert served(port, "127.0.0.2")
    assert not served(port, "127.0.0.3")
    # Opened under the old rules, still open across the reload.
    held = connect_from(port, "127.0.0.2")
    held.sendall(b"before")
    assert held.recv(6) == b"before"

    reload_to(d, config({"allow": rules("127.0.0.3/32")}), 1)
    assert not served(port, "127.0.0.2")
    assert served(port, "127.0.0.3")
    held.sendall(b"after")                    # the established one goes on
    assert held.recv(5) == b"after"

    reload_to(d, config({"deny": rules("127.0.0.3/32")}), 2)
    assert served(port, "127.0.0.2")          # no allow list any more
    assert served(port, "127.0.0.4")
    assert not served(port, "127.0.0.3")

    reload_to(d, config({}), 3)               # no rules at all
    assert served(port, "127.0.0.3")

    held.shutdown(socket.SHUT_WR)
    assert held.recv(1) == b""
    held.close()
    lines = d.wait_conns(9)
    ends = [(ln["client"].split(":")[0], ln["end"]) for ln in lines]
    assert ends.count(("127.0.0.2", "denied")) == 1
    assert ends.count(("127.0.0.3", "denied")) == 2
    assert sum(1 for _, e in ends if e == "denied") == 3
    # The listener kept its name, so it kept its counters.
    assert listener_row(sock_path)["denied"] == "3"
    assert srv.accepted == 6


def test_reload_with_a_bad_rule_keeps_the_old_rules(netpolld, servers, tmp_path):
    srv = servers()
    port = free_port()

    def config(listener):
        return conf_text(f"127.0.0.1:{port}", srv.address, listener=listener)

    d = netpolld(config({"allow": rules("127.0.0.2/32")}))
    with open(d.config_path, "w") as f:
        f.write(config({"allow": rules("127.0.0.3/33")}))
    d.signal(signal.SIGHUP)
    d.wait_log(r" warn reload failed; generation 0 goes on serving")
    assert re.search(re.escape(d.config_path) + r":\d+: .*127\.0\.0\.3/33", d.log()), d.log()
    assert served(port, "127.0.0.2")
    assert not served(port, "127.0.0.3")


# ---- v4-mapped clients on a dual-stack socket ------------------------------------

class DualStack:
    """netpolld given, by socket activation (LISTEN_FDS), a dual-stack
    [::]:PORT socket (IPV6_V6ONLY off, which netpolld itself never binds):
    IPv4 clients reach it as v4-mapped IPv6 addresses."""

    def __init__(self, tmp_path, config_text, port):
        self.lsock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        self.lsock.bind(("::", port))
        self.lsock.listen(128)
        self.config_path = os.path.join(str(tmp_path), "dual.conf")
        write_config(self.config_path, config_text)
        self.log_path = os.path.join(str(tmp_path), "dual.log")
        self.log_file = open(self.log_path, "wb")
        env = {k: v for k, v in os.environ.items()
               if k not in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET")}
        env["LISTEN_FDS"] = "1"
        fd = self.lsock.fileno()

        def to_fd3():
            os.dup2(fd, 3)          # inheritable: it survives the exec
        # The shell sets LISTEN_PID to its own pid, then becomes netpolld.
        self.proc = subprocess.Popen(
            ["/bin/sh", "-c", 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" -c "$1"',
             BINARY, self.config_path],
            stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=self.log_file, env=env,
            close_fds=False, preexec_fn=to_fd3)
        self.lsock.close()          # the daemon holds it now
        wait_until(lambda: self._ready(), what="the ready line")

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"exited ({self.proc.returncode}):\n{self.log()}")
        return re.search(r"ready \(", self.log())

    def conn_lines(self, n):
        def lines():
            got = [dict(re.findall(r"(\w+)=(\S+)", ln)) for ln in self.log().splitlines()
                   if " conn=" in ln]
            return got if len(got) >= n else None
        return wait_until(lines, what=f"{n} connection log lines")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()
        return self.proc.returncode


@pytest.fixture
def dualstack(tmp_path):
    made = []

    def start(config_text, port):
        d = DualStack(tmp_path, config_text, port)
        made.append(d)
        return d
    yield start
    for d in made:
        d.stop()
    reports = [(d.log_path, m) for d in made for m in SANITIZER_MARKS if m in d.log()]
    assert not reports, reports


def test_v4_mapped_clients_match_ipv4_rules(dualstack, servers, tmp_path):
    srv = servers()
    port = free_port("::")
    sock_path = os.path.join(str(tmp_path), "stats.sock")
    d = dualstack(conf_text(f"[::]:{port}", srv.address,
                            global_={"stats_socket": f'"{sock_path}"'},
                            listener={"allow": rules("127.0.0.0/24", "::1/128"),
                                      "deny": rules("127.0.0.3/32")}), port)
    assert re.search(rf"listener front: inherited from systemd: \[::\]:{port}", d.log()), d.log()
    assert served(port, "127.0.0.2", host="127.0.0.1")     # ::ffff:127.0.0.2 in 127.0.0.0/24
    assert not served(port, "127.0.0.3", host="127.0.0.1")  # denied by the IPv4 deny rule
    assert not served(port, "127.0.1.1", host="127.0.0.1")  # outside the IPv4 allow rule
    assert served(port, "::1")                              # a real IPv6 client
    lines = d.conn_lines(4)
    clients = [ln["client"].rsplit(":", 1)[0] for ln in lines]
    assert clients == ["[::ffff:127.0.0.2]", "[::ffff:127.0.0.3]", "[::ffff:127.0.1.1]",
                       "[::1]"], lines
    assert [ln["end"] for ln in lines] == ["client_close", "denied", "denied", "client_close"]
    assert srv.accepted == 2
    assert listener_row(sock_path)["denied"] == "2"
