"""Shared fixtures for the integration tests: the real netpolld binary,
small real servers on loopback, and bounded waits.

Every wait here has a deadline; nothing sleeps for a fixed time hoping that
something happened meanwhile.
"""
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading

import pytest

# The helpers tests/systemd shares; the test files import them from here.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from netpolld_testlib import (TIMEOUT, connect, free_port, hostport,  # noqa: E402,F401
                              inject_splice, parse_info, parse_logfmt, proc_fd_count,
                              proc_rss_kib, proc_tcp_sockets, recv_all, recv_exactly,
                              splice_mode, stats_query, unix_connect, wait_until,
                              write_config)

ROOT = os.environ.get("NETPOLLD_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BINARY = os.environ.get("NETPOLLD", os.path.join(ROOT, "build", "netpolld"))
# Set by `make check-asan`: RSS says little there (ASan keeps freed memory
# in quarantine); LeakSanitizer at exit says more.
SANITIZED = os.environ.get("NETPOLLD_SANITIZED") == "1"
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
# Set by `make check-valgrind`: a command line put before the daemon's argv
# by Netpolld (valgrind and its options). A --log-file=...%p... in it names
# the log the fixture reads when the daemon has stopped.
WRAPPER = shlex.split(os.environ.get("NETPOLLD_WRAPPER", ""))
WRAPPER_LOG = next((a.split("=", 1)[1] for a in WRAPPER if a.startswith("--log-file=")), None)


def pytest_configure(config):
    """A NETPOLLD_TEST_SPLICE value that is not known fails the run at once."""
    try:
        splice_mode()
    except ValueError as e:
        raise pytest.UsageError(str(e))


def pytest_report_header(config):
    """Says which way NETPOLLD_TEST_SPLICE runs the suite."""
    mode = splice_mode()
    return "netpolld splice: " + (f"{mode} (NETPOLLD_TEST_SPLICE)" if mode
                                  else "as each config says (default on)")


def reset(sock):
    """Closes SOCK with an RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


class Server:
    """A TCP server on loopback running HANDLER(conn) in a thread per
    connection. Connections and threads are cleaned up by close()."""

    def __init__(self, handler, host="127.0.0.1", port=0, backlog=128, path=None):
        """PATH, if given, makes it a unix socket server instead."""
        if path is not None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(path)
            self.host, self.port = None, None
        else:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            self.sock = socket.socket(family, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, port))
            self.host, self.port = host, self.sock.getsockname()[1]
        self.sock.listen(backlog)
        self.path = path
        self.handler = handler
        self.conns = []
        self.errors = []
        self.accepted = 0
        self.lock = threading.Lock()
        self.closing = False
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    @property
    def address(self):
        if self.path is not None:
            return f"unix:{self.path}"
        return hostport(self.host, self.port)

    def _accept_loop(self):
        while not self.closing:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(TIMEOUT)
            with self.lock:
                self.accepted += 1
                self.conns.append(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn):
        try:
            self.handler(conn)
        except Exception as e:  # reported by the test that cares
            if not self.closing:
                self.errors.append(e)

    def close(self):
        self.closing = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass


def echo_handler(conn):
    """Echoes until EOF, then closes."""
    while True:
        b = conn.recv(1 << 16)
        if not b:
            break
        conn.sendall(b)
    conn.close()


def conf_text(listen, servers, *, global_=None, defaults=None, listener=None, backend=None):
    """A libconfig file with one listener "front" and one backend "pool".
    LISTEN and SERVERS are address strings (or lists of them); the keyword
    dicts add raw `key = value;` settings (values are written as given)."""
    def settings(d):
        return "".join(f"    {k} = {v};\n" for k, v in (d or {}).items())

    if isinstance(listen, str):
        listen = [listen]
    if isinstance(servers, str):
        servers = [servers]
    listen_s = ", ".join(f'"{a}"' for a in listen)
    servers_s = ",\n".join(f'      {{ address = "{a}"; }}' for a in servers)
    g = {"log_level": '"info"'}
    g.update(global_ or {})
    return (
        f"global = {{\n{settings(g)}}};\n"
        + (f"defaults = {{\n{settings(defaults)}}};\n" if defaults else "")
        + "listeners = (\n  {\n    name = \"front\";\n"
        + f"    listen = [ {listen_s} ];\n    backend = \"pool\";\n{settings(listener)}  }}\n);\n"
        + "backends = (\n  {\n    name = \"pool\";\n"
        + f"{settings(backend)}    servers = (\n{servers_s}\n    );\n  }}\n);\n"
    )


def parse_stat(text):
    """`show stat` CSV as a list of dicts keyed by column."""
    lines = text.splitlines()
    assert lines[0].startswith("# "), lines
    cols = lines[0][2:].split(",")
    return [dict(zip(cols, ln.split(","))) for ln in lines[1:]]


class Netpolld:
    """One running daemon. stderr goes to a file the test can read."""

    def __init__(self, tmp_path, config_text, name="netpolld.conf", args=(), env=None,
                 wait_ready=True, preexec_fn=None):
        self.tmp_path = tmp_path
        self.config_path = os.path.join(tmp_path, name)
        write_config(self.config_path, config_text)
        self.log_path = os.path.join(tmp_path, f"netpolld-{id(self)}.log")
        self.log_file = open(self.log_path, "wb")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen([*WRAPPER, BINARY, "-c", self.config_path, *args],
                                     stdout=self.log_file, stderr=self.log_file,
                                     env=full_env, preexec_fn=preexec_fn)
        self.pid = self.proc.pid
        if wait_ready:
            self.wait_log(r"ready \(", what="the ready line")

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_log(self, pattern, timeout=TIMEOUT, what=None, count=1):
        """Waits until PATTERN matches COUNT lines; returns the matches."""
        rx = re.compile(pattern)

        def found():
            if self.proc.poll() is not None and len(rx.findall(self.log())) < count:
                raise AssertionError(f"netpolld exited ({self.proc.returncode}) while waiting "
                                     f"for {what or pattern}:\n{self.log()}")
            m = [ln for ln in self.log().splitlines() if rx.search(ln)]
            return m if len(m) >= count else None
        return wait_until(found, timeout, what=what or pattern)

    def conn_lines(self):
        return [parse_logfmt(ln) for ln in self.log().splitlines() if " conn=" in ln or ln.startswith("conn=")]

    def wait_conns(self, count, timeout=TIMEOUT):
        """Waits for COUNT connection log lines; returns them parsed."""
        self.wait_log(r"\bconn=\d+ ", timeout=timeout, count=count,
                      what=f"{count} connection log lines")
        return self.conn_lines()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=TIMEOUT):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"netpolld did not exit within {timeout}s:\n{self.log()}")

    def stop(self, timeout=TIMEOUT):
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()
        return self.proc.returncode

    def fd_count(self):
        return proc_fd_count(self.pid)

    def rss_kib(self):
        return proc_rss_kib(self.pid)

    def socket_states(self):
        """TCP states (hex codes of /proc/net/tcp*) of sockets it holds."""
        return [state for _, _, state in proc_tcp_sockets(self.pid)]

    def sanitizer_reports(self):
        text = self.log()
        return [m for m in SANITIZER_MARKS if m in text] + self.wrapper_reports()

    def wrapper_reports(self):
        """What the NETPOLLD_WRAPPER valgrind log of this (stopped) daemon
        says is wrong: errors (definite leaks count as errors there), or no
        summary at all when it was killed before writing one."""
        if WRAPPER_LOG is None or "%p" not in WRAPPER_LOG:
            return []
        path = WRAPPER_LOG.replace("%p", str(self.pid))
        try:
            with open(path, errors="replace") as f:
                text = f.read()
        except OSError as e:
            return [f"valgrind log {path}: {e.strerror}"]
        m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
        if m is None:
            return [f"valgrind log {path}: no ERROR SUMMARY (exit code {self.proc.returncode})"]
        return [] if m.group(1) == "0" else [f"valgrind log {path}: {m.group(0)}\n{text}"]


def http_get(port, path):
    """The whole answer (head and body) to GET PATH on PORT."""
    with connect(port) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        chunks = []
        while True:
            b = s.recv(1 << 16)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks)


@pytest.fixture
def refused():
    """Factory for addresses that refuse connects: a bound socket that
    never listens answers every SYN with a RST. Holding it keeps the port
    from being reused by someone else while the test runs."""
    socks = []

    def make():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        return f"127.0.0.1:{s.getsockname()[1]}"
    yield make
    for s in socks:
        s.close()


@pytest.fixture
def servers():
    """Factory for loopback servers; all are closed after the test."""
    made = []

    def make(handler=echo_handler, **kw):
        s = Server(handler, **kw)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


@pytest.fixture
def netpolld(tmp_path):
    """Factory for daemons; each is stopped after the test, and the test
    fails if a sanitizer reported anything."""
    made = []

    def start(config_text, **kw):
        d = Netpolld(str(tmp_path), config_text, **kw)
        made.append(d)
        return d
    yield start
    reports = []
    for d in made:
        d.stop()
        reports += [(d.log_path, r) for r in d.sanitizer_reports()]
    assert not reports, "sanitizer reports: " + "; ".join(
        f"{p}: {r}" for p, r in reports) + "\n" + "\n".join(d.log() for d in made)


class Blackhole:
    """A loopback address that never answers a connect: a listening socket
    with backlog 0 that never accepts, its accept queue filled. Linux drops
    the SYNs of further connects while the queue is full, so they hang in
    SYN_SENT as they would towards a dead host."""

    def __init__(self, host="127.0.0.1", probe_s=0.3, max_fill=64):
        import select
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.family = family
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(0)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.fill = []
        for _ in range(max_fill):
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((host, self.port))
            self.fill.append(s)
            _, writable, _ = select.select([], [s], [], probe_s)
            if not writable:
                return      # this connect hangs: the queue is full
        self.close()
        raise AssertionError(f"connects to a full backlog-0 listener never hung "
                             f"after {max_fill} tries")

    @property
    def address(self):
        return hostport(self.host, self.port)

    def close(self):
        for s in self.fill:
            s.close()
        self.fill = []
        self.sock.close()


@pytest.fixture
def blackhole():
    """Factory for Blackhole addresses; all are closed after the test."""
    made = []

    def make(**kw):
        b = Blackhole(**kw)
        made.append(b)
        return b
    yield make
    for b in made:
        b.close()
