"""Socket activation through systemd's own tool, systemd-socket-activate:
it binds the sockets, waits for the first connection, and execs netpolld
in its place with LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES set. netpolld
takes an inherited socket for the listener whose address it matches, or
by the listener's name (FileDescriptorName), keeps it across reloads, and
never unlinks a unix socket path systemd made."""
import os
import re
import shutil
import signal
import socket
import subprocess
import threading

import pytest

from conftest import (BINARY, SANITIZER_MARKS, TIMEOUT, conf_text, free_port, parse_info,
                      recv_all, recv_exactly, stats_query, wait_until)
from conftest import write_config

SOCKET_ACTIVATE = shutil.which("systemd-socket-activate") or "/usr/bin/systemd-socket-activate"

pytestmark = pytest.mark.skipif(not os.access(SOCKET_ACTIVATE, os.X_OK),
                                reason="systemd-socket-activate is not installed")

# What the daemon must not inherit from the test's own environment.
NOT_PASSED = ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET", "JOURNAL_STREAM",
              "WATCHDOG_USEC", "WATCHDOG_PID")


class Activated:
    """netpolld started by systemd-socket-activate listening on LISTEN
    (addresses or unix paths) named FDNAMES. The daemon execs in place of
    the tool on the first connection, so proc.pid is the daemon's pid."""

    def __init__(self, tmp_path, config_text, listen, fdnames=None):
        self.config_path = os.path.join(str(tmp_path), "netpolld.conf")
        write_config(self.config_path, config_text)
        self.log_path = os.path.join(str(tmp_path), "activated.log")
        self.log_file = open(self.log_path, "wb")
        cmd = [SOCKET_ACTIVATE]
        for a in listen:
            cmd += ["-l", a]
        if fdnames:
            cmd.append("--fdname=" + ":".join(fdnames))
        # The tool gives its child only what -E names (ASAN_OPTIONS too).
        for k in sorted(os.environ):
            if k not in NOT_PASSED and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
                cmd += ["-E", k]
        cmd += [BINARY, "-c", self.config_path]
        env = {k: v for k, v in os.environ.items() if k not in NOT_PASSED}
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log_file,
                                     stderr=self.log_file, env=env)
        self.pid = self.proc.pid

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_log(self, pattern, what=None):
        rx = re.compile(pattern)

        def found():
            m = rx.search(self.log())
            if m is None and self.proc.poll() is not None:
                raise AssertionError(f"exited ({self.proc.returncode}) before {what or pattern}:"
                                     f"\n{self.log()}")
            return m
        return wait_until(found, what=what or pattern)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"netpolld did not exit on SIGTERM:\n{self.log()}")
        self.log_file.close()
        return self.proc.returncode


@pytest.fixture
def activated(tmp_path):
    made = []

    def start(*args, **kw):
        a = Activated(tmp_path, *args, **kw)
        made.append(a)
        return a
    yield start
    for a in made:
        a.stop()
    reports = [(a.log_path, m) for a in made for m in SANITIZER_MARKS if m in a.log()]
    assert not reports, reports


def tcp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    return s, ("127.0.0.1", port)


def unix(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    return s, path


def first_connection(make):
    """Connects once the tool listens (refused until then); this very
    connection is what makes it exec netpolld."""
    def attempt():
        s, where = make()
        try:
            s.connect(where)
            return s
        except (ConnectionRefusedError, FileNotFoundError):
            s.close()
            return None
    return wait_until(attempt, what="systemd-socket-activate listening")


def echo_on(s, payload):
    try:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s) == payload
    finally:
        s.close()


def echo(make, payload=b"hello through an inherited socket"):
    s, where = make()
    s.connect(where)
    echo_on(s, payload)


def listen_inode(port):
    """The inode of the socket listening on 127.0.0.1:PORT."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[1] == want and fields[3] == "0A":
                return fields[9]
    return None


def held_inodes(pid):
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            m = re.match(r"socket:\[(\d+)\]", os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
        if m:
            out.add(m.group(1))
    return out


def test_an_inherited_socket_matching_a_listener_address_serves_the_first_connection(
        activated, servers):
    backend = servers()
    port = free_port()
    a = activated(conf_text(f"127.0.0.1:{port}", backend.address),
                  [f"127.0.0.1:{port}"], fdnames=["front"])
    first = first_connection(lambda: tcp(port))
    echo_on(first, b"the connection that woke it up")
    a.wait_log(r"ready \(")
    echo(lambda: tcp(port))
    log = a.log()
    assert re.search(rf"(?m) info listener front: inherited from systemd: 127\.0\.0\.1:{port}$",
                     log), log
    assert not re.search(rf"listener front: listening on 127\.0\.0\.1:{port}\b", log), log
    assert "(by name)" not in log and "matches no listener" not in log, log
    assert listen_inode(port) in held_inodes(a.pid)
    assert a.stop() == 0, a.log()


def test_an_inherited_socket_named_like_a_listener_serves_beside_its_own_address(
        activated, servers):
    backend = servers()
    inherited, own = free_port(), free_port()
    a = activated(conf_text(f"127.0.0.1:{own}", backend.address),
                  [f"127.0.0.1:{inherited}"], fdnames=["front"])
    echo_on(first_connection(lambda: tcp(inherited)), b"by name")
    a.wait_log(r"ready \(")
    log = a.log()
    assert re.search(rf"(?m) info listener front: inherited from systemd: "
                     rf"127\.0\.0\.1:{inherited} \(by name\)$", log), log
    assert re.search(rf"(?m) info listener front: listening on 127\.0\.0\.1:{own}$", log), log
    echo(lambda: tcp(inherited), b"inherited address")
    echo(lambda: tcp(own), b"own address")
    assert a.stop() == 0, a.log()


def test_an_inherited_unix_socket_is_served_and_its_path_left_to_systemd(
        tmp_path, activated, servers):
    backend = servers()
    inherited = os.path.join(str(tmp_path), "x.sock")
    own = os.path.join(str(tmp_path), "y.sock")
    a = activated(conf_text([f"unix:{inherited}", f"unix:{own}"], backend.address),
                  [inherited])
    echo_on(first_connection(lambda: unix(inherited)), b"over unix")
    a.wait_log(r"ready \(")
    log = a.log()
    assert re.search(rf"(?m) info listener front: inherited from systemd: "
                     rf"unix:{re.escape(inherited)}$", log), log
    assert re.search(rf"(?m) info listener front: listening on unix:{re.escape(own)}$", log), log
    echo(lambda: unix(inherited), b"inherited unix")
    echo(lambda: unix(own), b"own unix")
    assert a.stop() == 0, a.log()
    # netpolld unlinks the path it bound, never the one systemd made.
    assert os.path.exists(inherited), a.log()
    assert not os.path.exists(own), a.log()


def test_an_inherited_socket_matching_no_listener_is_warned_about_and_closed(
        activated, servers):
    backend = servers()
    stray, own = free_port(), free_port()
    a = activated(conf_text(f"127.0.0.1:{own}", backend.address),
                  [f"127.0.0.1:{stray}"], fdnames=["stray"])
    first = first_connection(lambda: tcp(stray))
    a.wait_log(r"ready \(")
    first.close()       # nobody serves it: it was in a socket now closed
    log = a.log()
    assert re.search(rf"(?m) warn socket activation: 127\.0\.0\.1:{stray} \(stray\) "
                     r"matches no listener", log), log
    echo(lambda: tcp(own), b"its own listener serves")
    s, where = tcp(stray)
    with pytest.raises(ConnectionRefusedError):
        s.connect(where)
    s.close()
    assert a.stop() == 0, a.log()


class Hammer:
    """Echo round trips in a thread, one after another, until stopped:
    every one must succeed byte-exact."""

    def __init__(self, make):
        self.make = make
        self.ok = 0
        self.errors = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        i = 0
        while not self.done.is_set():
            try:
                echo(self.make, b"during the reload %d" % i)
                self.ok += 1
            except Exception as e:     # reported by stop()
                self.errors.append(repr(e))
            i += 1

    def stop(self):
        self.done.set()
        self.thread.join(TIMEOUT)
        assert not self.errors, self.errors[:5]
        return self.ok


@pytest.mark.parametrize("matched", ["by address", "by name"])
def test_a_reload_keeps_the_very_inherited_socket_serving(
        tmp_path, activated, servers, matched):
    backend = servers()
    sock = os.path.join(str(tmp_path), "stats.sock")
    port = free_port()
    listen = f"127.0.0.1:{port}" if matched == "by address" else f"127.0.0.1:{free_port()}"
    a = activated(conf_text(listen, backend.address, global_={"stats_socket": f'"{sock}"'}),
                  [f"127.0.0.1:{port}"], fdnames=["front"])
    echo_on(first_connection(lambda: tcp(port)), b"first")
    a.wait_log(r"ready \(")
    inode = listen_inode(port)
    assert inode in held_inodes(a.pid)

    # One connection stays open across the reload, others come and go.
    s, where = tcp(port)
    s.connect(where)
    s.sendall(b"before ")
    assert recv_exactly(s, 7) == b"before "
    hammer = Hammer(lambda: tcp(port))
    wait_until(lambda: hammer.ok >= 3, what="round trips before the reload")
    a.proc.send_signal(signal.SIGHUP)
    a.wait_log(r"reload: generation 1 serving")
    before = hammer.ok
    wait_until(lambda: hammer.ok >= before + 3, what="round trips after the reload")
    assert hammer.stop() > 0
    echo_on(s, b"and after")    # the same connection, across the reload
    echo(lambda: tcp(port), b"after the reload")

    info = parse_info(stats_query(sock, "show info")[0])
    assert (info["generation"], info["last_reload"]) == ("1", "ok"), info
    assert listen_inode(port) == inode, "the inherited socket was replaced"
    assert inode in held_inodes(a.pid)
    log = a.log()
    assert len(re.findall(rf"inherited from systemd: 127\.0\.0\.1:{port}\b", log)) == 1, log
    assert not re.search(rf"listening on 127\.0\.0\.1:{port}\b", log), log
    assert a.stop() == 0, a.log()
