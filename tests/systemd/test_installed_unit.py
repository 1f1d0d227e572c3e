"""The unit files `make install` produces, run by a real systemd (PID 1
in a container): readiness, reload, watchdog, socket activation, graceful
stop, journal priorities and the stats socket of the sandboxed service."""
import os
import re
import socket
import threading
import time

from netpolld_nspawn import (STATS_SOCKET, TIMEOUT, conf_text, connect, echo, free_port, hold,
                             parse_info, parse_logfmt, recv_all, recv_exactly, wait_until)
from netpolld_nspawn import box, container, servers  # noqa: F401  (fixtures)

SERVICE = "netpolld.service"
SOCKET = "netpolld.socket"


def write_conf(box, listen, servers, *, global_=None, **kw):
    """/etc/netpolld/netpolld.conf, with the stats socket where the unit's
    RuntimeDirectory= puts it."""
    g = {"stats_socket": f'"{STATS_SOCKET}"'}
    g.update(global_ or {})
    box.write_config(conf_text(listen, servers, global_=g, **kw))


def state(box, unit=SERVICE):
    st = box.show(unit, "ActiveState", "SubState")
    return st["ActiveState"], st["SubState"]


def netpollctl(box, *args):
    ctl = box.path("/usr/bin/netpollctl")
    assert os.access(ctl, os.X_OK), "make install did not install /usr/bin/netpollctl"
    return box.run("netpollctl", "-s", STATS_SOCKET, *args)


def test_installed_units_load_without_warnings(box):
    """A misspelt directive is only a warning to systemd, and the unit
    then runs without it: verify reports it. (--man=no: the root has no
    man(1) to check Documentation= with.)"""
    units = [f"/usr/lib/systemd/system/{u}" for u in (SERVICE, SOCKET)]
    present = [u for u in units if os.path.exists(box.path(u))]
    for unit in present:
        r = box.run("systemd-analyze", "verify", "--man=no", unit, check=False, timeout=60)
        out = r.stdout + r.stderr
        assert r.returncode == 0, out
        assert not re.search(r"(?i)unknown (key|lvalue|section)|ignoring", out), out
    assert present == units, "make install did not install " + " ".join(set(units) - set(present))


def test_start_returns_only_once_ready_and_the_proxy_serves_at_once(box, servers):
    srv = servers()
    port = free_port()
    write_conf(box, f"127.0.0.1:{port}", srv.address)
    box.systemctl("start", SERVICE)
    # No retry: Type=notify makes `start` wait for READY=1, which netpolld
    # sends once every listener accepts.
    assert echo(port, b"ready means ready") == b"ready means ready"
    st = box.show(SERVICE, "ActiveState", "SubState", "Type", "StatusText", "MainPID")
    assert (st["ActiveState"], st["SubState"]) == ("active", "running"), st
    assert st["Type"] == "notify", st
    assert st["StatusText"].strip(), f"no STATUS= reached systemd: {st}"
    # The sandbox is in force: DynamicUser runs it as an ephemeral user.
    status = box.run("cat", f"/proc/{st['MainPID']}/status").stdout
    uid = re.search(r"^Uid:\s+(\d+)", status, re.M).group(1)
    assert uid != "0", status


class ShortConns(threading.Thread):
    """Short echo connections one after the other until stopped (bounded
    by LIMIT, DURATION and 20 errors). Each records which server answered
    (the tag the server appends) or what went wrong."""

    def __init__(self, port, limit=2000, duration=20.0):
        super().__init__(daemon=True)
        self.port, self.limit, self.duration = port, limit, duration
        self.tags = []
        self.errors = []
        self.stopping = threading.Event()

    def run(self):
        deadline = time.monotonic() + self.duration
        i = 0
        while (not self.stopping.is_set() and i < self.limit and len(self.errors) < 20
               and time.monotonic() < deadline):
            payload = b"%d:" % i + os.urandom(200)
            try:
                got = echo(self.port, payload, timeout=10)
            except OSError as e:
                self.errors.append(f"connection {i}: {e!r}")
            else:
                tag = got[len(payload):]
                if got[:len(payload)] != payload or tag not in (b"A", b"B"):
                    self.errors.append(f"connection {i}: sent {len(payload)} bytes, got "
                                       f"{len(got)}: {got[-20:]!r}")
                else:
                    self.tags.append(tag)
            i += 1

    def stop(self):
        self.stopping.set()
        self.join(timeout=TIMEOUT)


class LongStream:
    """One connection carrying a steady stream while it lasts; everything
    sent must come back, byte for byte, followed by its server's tag."""

    def __init__(self, port):
        self.sock = connect(port)
        self.sent = bytearray()
        self.got = bytearray()
        self.errors = []
        self.stopping = threading.Event()
        self.sender = threading.Thread(target=self._send, daemon=True)
        self.receiver = threading.Thread(target=self._recv, daemon=True)
        self.sender.start()
        self.receiver.start()

    def _send(self):
        try:
            while not self.stopping.is_set():
                chunk = os.urandom(8192)
                self.sock.sendall(chunk)
                self.sent += chunk
                self.stopping.wait(0.01)
            self.sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.errors.append(f"send: {e!r}")

    def _recv(self):
        try:
            self.got += recv_all(self.sock, timeout=TIMEOUT)
        except OSError as e:
            self.errors.append(f"recv: {e!r}")

    def finish(self):
        self.stopping.set()
        self.sender.join(timeout=TIMEOUT)
        self.receiver.join(timeout=TIMEOUT)
        self.sock.close()


def test_reload_under_load_loses_no_connection_and_moves_new_ones(box, servers):
    old, new = servers(tag=b"A"), servers(tag=b"B")
    port = free_port()
    write_conf(box, f"127.0.0.1:{port}", old.address)
    box.systemctl("start", SERVICE)
    pid = box.main_pid()
    stream = LongStream(port)
    loads = [ShortConns(port) for _ in range(2)]
    for t in loads:
        t.start()
    try:
        wait_until(lambda: all(len(t.tags) >= 20 for t in loads) or any(t.errors for t in loads),
                   what="connections through the first configuration")
        write_conf(box, f"127.0.0.1:{port}", new.address)
        box.systemctl("reload", SERVICE)
        reloaded = time.monotonic()
        sent_at_reload = len(stream.sent)
        # A second of traffic on both configurations at once: the stream
        # on the old one, new connections on the new one.
        wait_until(lambda: (all(t.tags.count(b"B") >= 100 for t in loads)
                            and time.monotonic() - reloaded >= 1.0)
                   or not all(t.is_alive() for t in loads),
                   what="new connections to reach the new backend after `systemctl reload`")
    finally:
        for t in loads:
            t.stop()
        stream.finish()
    errors = [e for t in loads for e in t.errors] + stream.errors
    assert not errors, f"{len(errors)} failed connections: {errors[:10]}"
    for t in loads:
        # One client, one connection after the other: once the new
        # configuration took a connection, none goes to the old one.
        assert t.tags == sorted(t.tags), b"".join(t.tags)
        assert t.tags.count(b"A") >= 20 and t.tags.count(b"B") >= 100
    # The established connection kept its server and lost no byte.
    assert 0 < sent_at_reload < len(stream.sent)
    assert bytes(stream.got) == bytes(stream.sent) + b"A", (len(stream.sent), len(stream.got))

    wait_until(lambda: state(box) == ("active", "running"),
               what="the service to leave `reloading` (READY=1 after RELOADING=1)")
    assert box.main_pid() == pid, "reload restarted the process instead of reloading it"
    info = parse_info(netpollctl(box, "info").stdout)
    assert info.get("generation") == "1", info
    assert info.get("last_reload") == "ok", info


def test_watchdog_kills_and_restarts_a_stopped_daemon(box, servers):
    box.write("/etc/systemd/system/netpolld.service.d/wd.conf", "[Service]\nWatchdogSec=2s\n")
    box.systemctl("daemon-reload")
    srv = servers()
    port = free_port()
    write_conf(box, f"127.0.0.1:{port}", srv.address)
    box.systemctl("start", SERVICE)
    st = box.show(SERVICE, "WatchdogUSec", "NRestarts", "MainPID")
    assert st["WatchdogUSec"] in ("2s", "2000000"), st
    pid, restarts = int(st["MainPID"]), int(st["NRestarts"])

    # Healthy, it pings from its loop: it outlives two periods and more.
    # (Proving that something does not happen takes the time it would.)
    hold(lambda: box.main_pid() == pid and state(box) == ("active", "running"), 5.0,
         interval=0.25, what="a healthy netpolld under WatchdogSec=2s (WATCHDOG=1 pings)")

    box.run("kill", "-STOP", str(pid))

    def restarted():
        p = box.main_pid()
        return p not in (0, pid) and state(box) == ("active", "running") and p
    new_pid = wait_until(restarted, timeout=30, interval=0.2,
                         what="systemd to kill the stopped daemon and start a new one")
    box.wait_journal(box.test_cursor, r"Watchdog timeout")
    box.wait_journal(box.test_cursor, r"Failed with result 'watchdog'")
    assert int(box.show(SERVICE, "NRestarts")["NRestarts"]) == restarts + 1
    assert new_pid != pid
    assert echo(port, b"after the restart") == b"after the restart"


def test_socket_activation_serves_the_first_connection_on_the_inherited_socket(box, servers):
    srv = servers()
    port = free_port()
    addr = f"127.0.0.1:{port}"
    # The installed netpolld.socket, moved to a free port; the listener's
    # name matches its FileDescriptorName and its address the socket's.
    assert os.path.exists(box.path(f"/usr/lib/systemd/system/{SOCKET}")), \
        f"make install did not install {SOCKET}"
    box.write("/etc/systemd/system/netpolld.socket.d/port.conf",
              f"[Socket]\nListenStream=\nListenStream={addr}\n")
    box.systemctl("daemon-reload")
    write_conf(box, addr, srv.address, name="web")
    box.systemctl("start", SOCKET)
    sock = box.show(SOCKET, "ActiveState", "Listen")
    assert sock["ActiveState"] == "active" and addr in sock["Listen"], sock
    assert state(box)[0] == "inactive", "the service started before any connection"

    assert echo(port, b"first connection") == b"first connection"
    assert state(box) == ("active", "running")

    # One listening socket on the port, held by systemd and by netpolld:
    # the very socket systemd made, not one netpolld bound beside it.
    ss = box.run("ss", "-Hltnp", "sport", "=", f":{port}").stdout
    listening = [ln for ln in ss.splitlines() if "LISTEN" in ln]
    assert len(listening) == 1, ss
    assert '"systemd"' in listening[0] and '"netpolld"' in listening[0], ss
    # netpolld says which listeners it inherited (src/generation.c:
    # "listener web: inherited from systemd: ADDR") and never that it
    # bound this address ("listening on ADDR").
    box.wait_journal(box.test_cursor, r"listener web: inherited\b.*" + re.escape(addr),
                     what="netpolld's line on the inherited socket")
    lines = box.daemon_lines(box.test_cursor)
    assert not [ln for ln in lines if f"listening on {addr}" in ln], lines


def test_stop_is_graceful_and_lets_the_open_connection_finish(box, servers):
    srv = servers()
    port = free_port()
    write_conf(box, f"127.0.0.1:{port}", srv.address, global_={"shutdown_timeout": '"15s"'})
    box.systemctl("enable", SERVICE)    # keeps the unit loaded once stopped: see below
    box.systemctl("start", SERVICE)
    s = connect(port)
    s.sendall(b"before ")
    assert recv_exactly(s, 7) == b"before "
    box.systemctl("stop", "--no-block", SERVICE)
    box.wait_journal(box.test_cursor, r"SIGTERM: stopping gracefully")
    assert state(box)[0] == "deactivating"
    # Draining: the open connection is still served.
    s.sendall(b"during the stop")
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b"during the stop"
    s.close()
    wait_until(lambda: state(box)[0] in ("inactive", "failed"),
               what="netpolld to exit after its last connection")
    # Exit status 0, Result=success. systemd unloads an inactive unit that
    # nothing references, and `show` then reports zeros whatever happened:
    # enabled (above), multi-user.target holds it, and the values are real.
    st = box.show(SERVICE, "ActiveState", "Result", "ExecMainCode", "ExecMainStatus")
    # ExecMainCode 1 is CLD_EXITED: it exited by itself.
    assert st == {"ActiveState": "inactive", "Result": "success", "ExecMainCode": "1",
                  "ExecMainStatus": "0"}, st
    # And in systemd's words (a non-zero exit or a signal would be logged
    # as "Main process exited, code=..." and "Failed with result '...'").
    box.wait_journal(box.test_cursor, r"^netpolld\.service: Deactivated successfully\.$")
    said = [e["MESSAGE"] for e in box.unit_entries(box.test_cursor)]
    assert not [m for m in said if re.search(r"Main process exited|Failed with result", m)], said
    assert "stopped" in box.daemon_lines(box.test_cursor)
    conn = [parse_logfmt(ln) for ln in box.daemon_lines(box.test_cursor) if ln.startswith("conn=")]
    assert [(c["bytes_in"], c["bytes_out"]) for c in conn] == [("22", "22")], conn


def test_journal_gets_connection_lines_at_info_and_warnings_at_warning(box, servers):
    srv = servers()
    dead = free_port()      # nothing listens there: connect refused
    port = free_port()
    write_conf(box, f"127.0.0.1:{port}", [f"127.0.0.1:{dead}", srv.address],
               defaults={"retries": 2})
    box.systemctl("start", SERVICE)
    for i in range(4):      # round robin: at least one tries the dead one first
        assert echo(port, b"%d" % i) == b"%d" % i

    def entries():
        es = [e for e in box.unit_entries(box.test_cursor)
              if e.get("SYSLOG_IDENTIFIER") == "netpolld"]
        conns = [e for e in es if re.match(r"conn=\d+ .* end=\S+$", e["MESSAGE"])]
        warns = [e for e in es if "Connection refused" in e["MESSAGE"]]
        return (len(conns) >= 4 and warns) and (conns, warns)
    conns, warns = wait_until(entries, interval=0.2, what="4 connection lines and a warning")
    assert {e["PRIORITY"] for e in conns} == {"6"}, conns
    assert {e["PRIORITY"] for e in warns} == {"4"}, warns
    assert all(f"127.0.0.1:{dead}" in e["MESSAGE"] for e in warns), warns
    # The <N> prefixes became priorities, not text; journald dates lines.
    for e in box.unit_entries(box.test_cursor):
        if e.get("SYSLOG_IDENTIFIER") == "netpolld":
            assert not re.match(r"<\d>|\d{4}-\d\d-\d\dT|(error|warn|info|debug) ", e["MESSAGE"]), e


def test_stats_socket_of_the_sandboxed_service(box, servers):
    srv = servers()
    port = free_port()
    write_conf(box, f"127.0.0.1:{port}", srv.address)
    box.systemctl("start", SERVICE)
    assert echo(port, b"counted") == b"counted"
    mode = wait_until(lambda: box.run("stat", "-c", "%a", STATS_SOCKET, check=False).stdout.strip(),
                      what=f"{STATS_SOCKET} to exist")
    assert mode == "660", mode
    r = netpollctl(box, "stat")
    assert re.search(r"\bfront\b", r.stdout) and re.search(r"\bpool\b", r.stdout), r.stdout
    assert srv.address in r.stdout, r.stdout
    info = parse_info(netpollctl(box, "info").stdout)
    assert info.get("pid") == str(box.main_pid()), info
    assert int(info.get("connections_total", "0")) >= 1, info
