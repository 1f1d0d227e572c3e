"""systemd integration: sd_notify messages at the right moments, journal
priority prefixes only when stderr really is the journal stream, and the
unit file `make install` produces."""
import os
import re
import shutil
import signal
import socket
import subprocess

import pytest

from conftest import (BINARY, ROOT, SANITIZER_MARKS, TIMEOUT, conf_text, connect, free_port, recv_all,
                      wait_until)
from conftest import write_config


def notify_socket(tmp_path):
    """A Unix datagram socket playing systemd's notify socket."""
    path = os.path.join(str(tmp_path), "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    return s, path


def next_notification(sock, want, timeout=TIMEOUT):
    """Reads notifications until one has the assignment WANT (e.g.
    "READY=1"); returns that message as a dict and all read before it."""
    sock.settimeout(timeout)
    seen = []
    while True:
        msg = sock.recv(4096).decode()
        fields = dict(line.split("=", 1) for line in msg.split("\n") if "=" in line)
        seen.append(fields)
        key, value = want.split("=", 1)
        if fields.get(key) == value:
            return fields, seen


def test_sd_notify_ready_after_listeners_accept_status_and_stopping(
        tmp_path, netpolld, servers):
    echo = servers()
    sock, path = notify_socket(tmp_path)
    port = free_port()
    try:
        d = netpolld(conf_text(f"127.0.0.1:{port}", echo.address),
                     env={"NOTIFY_SOCKET": path}, wait_ready=False)
        ready, before = next_notification(sock, "READY=1")
        # No retry: READY=1 promises that the listener accepts now.
        s = connect(port)
        s.sendall(b"ready means ready")
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s) == b"ready means ready"
        s.close()
        assert "STATUS" in ready and ready["STATUS"].strip() != "", ready
        assert all("STOPPING" not in m for m in before)
        d.wait_conns(1)

        d.signal(signal.SIGTERM)
        stopping, _ = next_notification(sock, "STOPPING=1")
        assert d.wait_exit() == 0
    finally:
        sock.close()


def spawn(tmp_path, text, stderr, env, args=()):
    conf = os.path.join(str(tmp_path), "netpolld.conf")
    write_config(conf, text)
    full_env = dict(os.environ)
    full_env.pop("JOURNAL_STREAM", None)
    full_env.update(env)
    return subprocess.Popen([BINARY, "-c", conf, *args], stdout=subprocess.DEVNULL,
                            stderr=stderr, env=full_env)


def exercise(tmp_path, servers, env_for):
    """Runs a daemon whose stderr is a file; ENV_FOR(stat of that file)
    gives its environment. One connection, a SIGHUP with a broken file (a
    failed reload: errors and a warning), a stop. Returns the log lines."""
    echo = servers()
    port = free_port()
    log_path = os.path.join(str(tmp_path), "stderr.log")
    with open(log_path, "wb") as log:
        st = os.fstat(log.fileno())
        proc = spawn(tmp_path, conf_text(f"127.0.0.1:{port}", echo.address), log,
                     env_for(st), args=["-l", "debug"])
    read = lambda: open(log_path, "rb").read().decode(errors="replace")  # noqa: E731
    try:
        wait_until(lambda: "ready (" in read() or proc.poll() is not None, what="ready")
        assert proc.poll() is None, read()
        s = connect(port)
        s.sendall(b"x")
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s) == b"x"
        s.close()
        wait_until(lambda: "conn=1 " in read(), what="the connection line")
        with open(os.path.join(str(tmp_path), "netpolld.conf"), "w") as f:
            f.write("global = { bogus = 1; };\n")
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "reload failed" in read(), what="the reload warning")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT) == 0, read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = read()
    assert not [m for m in SANITIZER_MARKS if m in text], text
    return text.splitlines()


def test_journal_stream_matching_stderr_gives_priority_prefixes_and_no_timestamp(
        tmp_path, servers):
    lines = exercise(tmp_path, servers,
                     lambda st: {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    assert lines
    for line in lines:
        assert re.match(r"<[3-7]>\S", line), line
        assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", line), line
        assert not re.match(r"<\d>(error|warn|info|debug) ", line), line
    assert any(re.fullmatch(r"<6>netpolld \S+ ready \(.*\)", ln) for ln in lines), lines
    assert any(re.fullmatch(r"<6>conn=1 client=127\.0\.0\.1:\d+ .* end=client_close", ln)
               for ln in lines), lines
    assert any(re.fullmatch(r"<4>reload failed; generation 0 goes on serving", ln)
               for ln in lines), lines
    assert any(re.fullmatch(r"<3>\S+netpolld\.conf:1: .*unknown key 'bogus'.*", ln)
               for ln in lines), lines
    assert any(re.fullmatch(r"<7>session 1: CONNECTING -> RELAYING", ln) for ln in lines), lines
    assert lines[-1] == "<6>stopped"


@pytest.mark.parametrize("other", ["another file", "garbage"])
def test_journal_stream_naming_something_else_gives_plain_lines(tmp_path, servers, other):
    def env_for(st):
        if other == "garbage":
            return {"JOURNAL_STREAM": "not-a-device:inode"}
        other_st = os.stat(ROOT)
        assert (other_st.st_dev, other_st.st_ino) != (st.st_dev, st.st_ino)
        return {"JOURNAL_STREAM": f"{other_st.st_dev}:{other_st.st_ino}"}
    lines = exercise(tmp_path, servers, env_for)
    ts = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
    for line in lines:
        assert re.match(ts + r"(error|warn|info|debug) \S", line), line
        assert not line.startswith("<"), line
    assert any(re.fullmatch(ts + r"warn reload failed.*", ln) for ln in lines), lines
    assert any(re.fullmatch(ts + r"info conn=1 .* end=client_close", ln) for ln in lines)


def build_dir():
    """The build folder of the binary under test, for `make install`."""
    rel = os.path.relpath(os.path.dirname(os.path.abspath(BINARY)), ROOT)
    return None if rel.startswith("..") or os.sep in rel else rel


def test_make_install_produces_a_working_hardened_unit(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    build = build_dir()
    if build is None:
        pytest.skip(f"{BINARY} is not a build folder of {ROOT}")
    dest = os.path.join(str(tmp_path), "root")
    # -o: install the binary under test as it is; never rebuild it here
    # (the sanitizer run would otherwise get a differently built one).
    r = subprocess.run(["make", "-C", ROOT, f"BUILD={build}", "-o", f"{build}/netpolld",
                        "install", f"DESTDIR={dest}", "PREFIX=/usr"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    for rel in ("usr/sbin/netpolld", "usr/share/man/man8/netpolld.8",
                "usr/share/man/man5/netpolld.conf.5",
                "usr/lib/systemd/system/netpolld.service", "etc/netpolld/netpolld.conf"):
        assert os.path.isfile(os.path.join(dest, rel)), rel
    assert os.access(os.path.join(dest, "usr/sbin/netpolld"), os.X_OK)
    with open(os.path.join(dest, "usr/share/man/man8/netpolld.8")) as f:
        assert re.search(r"^\.TH NETPOLLD 8\b", f.read(), re.M)
    with open(os.path.join(dest, "usr/share/man/man5/netpolld.conf.5")) as f:
        assert re.search(r"^\.TH NETPOLLD\.CONF 5\b", f.read(), re.M)

    unit = os.path.join(dest, "usr/lib/systemd/system/netpolld.service")
    with open(unit) as f:
        text = f.read()
    assert not re.search(r"@[A-Z_]+@", text), "unsubstituted @VARIABLES@ left in the unit"
    (exec_start,) = re.findall(r"(?m)^ExecStart=(.*)$", text)
    assert exec_start.split()[0] == "/usr/sbin/netpolld", exec_start
    assert "/etc/netpolld/netpolld.conf" in exec_start
    assert re.search(r"(?m)^Type=notify$", text)
    assert re.search(r"(?m)^Restart=on-failure$", text)

    # The installed program accepts the installed configuration.
    r = subprocess.run([os.path.join(dest, "usr/sbin/netpolld"), "-t", "-c",
                        os.path.join(dest, "etc/netpolld/netpolld.conf")],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert (r.returncode, r.stdout) == (0, "configuration OK\n"), r.stderr

    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed: exposure not rated")
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", unit],
                       capture_output=True, text=True, timeout=120)
    m = re.search(r"Overall exposure level for netpolld\.service: (\d+\.\d+)",
                  r.stdout + r.stderr)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 2.0, r.stdout


# --- sd_notify seen the way systemd sees it: with the sender's credentials ---

import struct  # noqa: E402
import time  # noqa: E402

from conftest import parse_info, recv_exactly, stats_query  # noqa: E402

UCRED = struct.Struct("3i")     # struct ucred: pid, uid, gid


class Notifications:
    """A datagram NOTIFY_SOCKET with SO_PASSCRED, as systemd's: each
    message comes with the sending process's pid, which must be PID's."""

    def __init__(self, tmp_path, name="notify-cred.sock"):
        self.path = os.path.join(str(tmp_path), name)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(self.path)
        self.pid = None
        self.seen = []          # every message read, as dicts, in order

    def recv(self, timeout):
        self.sock.settimeout(max(timeout, 0.001))
        msg, ancdata, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(UCRED.size))
        pid = None
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid, _, _ = UCRED.unpack(data[:UCRED.size])
        assert pid is not None, f"no credentials with {msg!r}"
        assert pid == self.pid, f"{msg!r} sent by pid {pid}, not the daemon's {self.pid}"
        text = msg.decode()
        fields = dict(line.split("=", 1) for line in text.split("\n") if "=" in line)
        self.seen.append(fields)
        return fields

    def until(self, match, timeout=TIMEOUT, what=None):
        """Reads until MATCH(fields) (or fields having the assignment MATCH,
        e.g. "READY=1"); returns that message and those read before it."""
        if isinstance(match, str):
            key, value = match.split("=", 1)
            want = match
            match = lambda f: f.get(key) == value  # noqa: E731
        else:
            want = what or "a matching notification"
        deadline = time.monotonic() + timeout
        before = []
        while True:
            left = deadline - time.monotonic()
            try:
                fields = self.recv(left)
            except socket.timeout:
                raise AssertionError(f"no {want} within {timeout}s; got {before!r}")
            if match(fields):
                return fields, before
            before.append(fields)

    def close(self):
        self.sock.close()


@pytest.fixture
def notifications(tmp_path, monkeypatch):
    # The daemon must see only the watchdog settings a test gives it.
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    n = Notifications(tmp_path)
    yield n
    n.close()


def echo_once(port, payload=b"ping"):
    s = connect(port)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == payload
    s.close()


def reload_round(n, trigger):
    """TRIGGER() starts a reload; returns the READY=1 that ends it after
    checking RELOADING=1 came first and nothing said READY=1 before."""
    trigger()
    ready, before = n.until("READY=1")
    reloading = [i for i, f in enumerate(before) if f.get("RELOADING") == "1"]
    assert len(reloading) == 1, before
    assert "STOPPING" not in ready and "RELOADING" not in ready, ready
    assert "STATUS" in ready, ready
    return ready


def test_sd_notify_reload_rounds_and_stop_all_come_from_the_daemon_pid(
        tmp_path, netpolld, servers, notifications):
    n = notifications
    echo = servers()
    port = free_port()
    sock = os.path.join(str(tmp_path), "stats.sock")
    good = conf_text(f"127.0.0.1:{port}", echo.address, global_={"stats_socket": f'"{sock}"'})
    d = netpolld(good, env={"NOTIFY_SOCKET": n.path}, wait_ready=False)
    n.pid = d.pid
    ready, _ = n.until("READY=1")
    assert re.search(r"\bgeneration 0\b", ready.get("STATUS", "")), ready
    echo_once(port)

    # SIGHUP, valid file: RELOADING=1, then READY=1 once generation 1 serves.
    ready = reload_round(n, lambda: d.signal(signal.SIGHUP))
    assert re.search(r"\bgeneration 1\b", ready["STATUS"]), ready
    info = parse_info(stats_query(sock, "show info")[0])
    assert (info["generation"], info["last_reload"]) == ("1", "ok"), info
    echo_once(port)

    # SIGHUP, broken file: the same round; generation 1 goes on.
    with open(d.config_path, "w") as f:
        f.write("global = { bogus = 1; };\n")
    ready = reload_round(n, lambda: d.signal(signal.SIGHUP))
    assert re.search(r"\bgeneration 1\b", ready["STATUS"]), ready
    info = parse_info(stats_query(sock, "show info")[0])
    assert info["generation"] == "1" and info["last_reload"].startswith("failed"), info
    echo_once(port)

    # The `reload` command: broken, then valid again.
    answers = []
    ready = reload_round(n, lambda: answers.append(stats_query(sock, "reload")[0]))
    assert answers[-1].startswith("error: reload failed"), answers
    assert re.search(r"\bgeneration 1\b", ready["STATUS"]), ready
    write_config(d.config_path, good)
    ready = reload_round(n, lambda: answers.append(stats_query(sock, "reload")[0]))
    assert answers[-1] == "ok: generation 2\n", answers
    assert re.search(r"\bgeneration 2\b", ready["STATUS"]), ready
    echo_once(port)

    d.signal(signal.SIGTERM)
    n.until("STOPPING=1")
    assert d.wait_exit() == 0
    assert sum(f.get("READY") == "1" for f in n.seen) == 5, n.seen
    assert sum(f.get("RELOADING") == "1" for f in n.seen) == 4, n.seen


def test_sd_notify_watchdog_pings_come_from_the_reactor_when_watchdog_usec_is_set(
        tmp_path, netpolld, servers, notifications):
    n = notifications
    echo = servers()
    port = free_port()
    # WATCHDOG_PID is unknown before the spawn; without it the watchdog
    # is for whoever reads WATCHDOG_USEC (sd_watchdog_enabled).
    d = netpolld(conf_text(f"127.0.0.1:{port}", echo.address),
                 env={"NOTIFY_SOCKET": n.path, "WATCHDOG_USEC": "400000"}, wait_ready=False)
    n.pid = d.pid
    n.until("READY=1")
    for _ in range(3):
        n.until("WATCHDOG=1")
    echo_once(port)
    n.until("WATCHDOG=1")       # still pinging after serving
    d.signal(signal.SIGTERM)
    n.until("STOPPING=1")
    assert d.wait_exit() == 0


@pytest.mark.parametrize("watchdog", ["unset", "another pid"])
def test_sd_notify_no_watchdog_pings_unless_asked_for_this_pid(
        tmp_path, netpolld, servers, notifications, watchdog):
    """Bounded by the daemon's own STATUS= refreshes (every 2 s when the
    count changed): two of them take longer than many 400 ms watchdog
    periods, and not one WATCHDOG=1 may come meanwhile."""
    n = notifications
    echo = servers()
    port = free_port()
    env = {"NOTIFY_SOCKET": n.path}
    if watchdog == "another pid":
        env.update({"WATCHDOG_USEC": "400000", "WATCHDOG_PID": str(os.getpid())})
    d = netpolld(conf_text(f"127.0.0.1:{port}", echo.address), env=env, wait_ready=False)
    n.pid = d.pid
    n.until("READY=1")
    s = connect(port)
    s.sendall(b"held")
    assert s.recv(4) == b"held"
    status = lambda rx: lambda f: re.match(rx, f.get("STATUS", "")) is not None  # noqa: E731
    n.until(status(r"1 connections\b"), what="STATUS= with 1 connection")
    s.close()
    n.until(status(r"0 connections, 1 total\b"), what="STATUS= with 0 connections")
    assert not [f for f in n.seen if "WATCHDOG" in f], n.seen
    d.signal(signal.SIGTERM)
    n.until("STOPPING=1")
    assert d.wait_exit() == 0
    assert not [f for f in n.seen if "WATCHDOG" in f], n.seen


def test_sd_notify_status_shows_live_connection_counts(
        tmp_path, netpolld, servers, notifications):
    n = notifications
    echo = servers()
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", echo.address),
                 env={"NOTIFY_SOCKET": n.path}, wait_ready=False)
    n.pid = d.pid
    ready, _ = n.until("READY=1")
    assert re.match(r"0 connections, 0 total\b", ready["STATUS"]), ready
    held = []
    try:
        for i in range(3):
            s = connect(port)
            s.sendall(b"held %d" % i)
            assert recv_exactly(s, 6) == b"held %d" % i
            held.append(s)
        n.until(lambda f: re.match(r"3 connections, 3 total\b", f.get("STATUS", "")),
                what="STATUS= with 3 open connections")
        held.pop().close()
        n.until(lambda f: re.match(r"2 connections, 3 total\b", f.get("STATUS", "")),
                what="STATUS= with 2 open connections")
    finally:
        for s in held:
            s.close()
    n.until(lambda f: re.match(r"0 connections, 3 total\b", f.get("STATUS", "")),
            what="STATUS= with none open")
    d.signal(signal.SIGTERM)
    n.until("STOPPING=1")
    assert d.wait_exit() == 0

