"""netpollctl against a fake stats socket speaking the protocol of SPEC
"Stats socket": what each command sends, what it prints, its JSON, its
exit codes, its time bounds, and `watch` in a real terminal (tmux): rates
from successive answers, an absent daemon, a restarted one, and a terminal
given back as it was on every way out."""
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import ROOT, TIMEOUT, wait_until

NETPOLLCTL = os.environ.get("NETPOLLCTL", os.path.join(ROOT, "build", "netpollctl"))
MiB = 1 << 20

HEADER = ("# type,name,parent,status,cur,max,limit,total,bytes_in,bytes_out,denied,"
          "errors,connect_errors,retries,health,weight,last_change_s")
COLUMNS = HEADER[2:].split(",")


class Daemon:
    """Counters of a pretend netpolld. Each `show info` is one tick: the
    counters advance by known steps, so a client's rates are checkable;
    `show stat` reports the same tick."""

    CONN_STEP, IN_STEP, OUT_STEP = 50, 3 * MiB, 512 << 10
    A_STEP, B_STEP = 20, 30     # the two servers' shares of CONN_STEP

    def __init__(self, pid=4242, base=1000):
        self.pid, self.base, self.tick = pid, base, 0
        self.lock = threading.Lock()

    def info(self):
        with self.lock:
            self.tick += 1
            t = self.tick
        return (f"version: 0.1.0\npid: {self.pid}\nuptime_s: {90061 + t}\ngeneration: 2\n"
                f"last_reload: ok\nconnections_current: 5\n"
                f"connections_total: {self.base + t * self.CONN_STEP}\n"
                f"bytes_in: {self.base + t * self.IN_STEP}\n"
                f"bytes_out: {self.base + t * self.OUT_STEP}\n"
                f"accept_paused: 0\nbuffers_in_use: 4\npipes_in_use: 2\nlog_dropped: 7\n")

    def stat(self):
        t, b = self.tick, self.base
        lt, at, bt = b + t * self.CONN_STEP, b + t * self.A_STEP, b + t * self.B_STEP
        return "\n".join([
            HEADER,
            f"listener,front,pool,OPEN,5,9,100,{lt},1000,2000,1,0,0,0,,,12",
            f"backend,pool,,UP,5,9,0,{lt},1000,2000,0,0,1,1,,3,12",
            f"server,[::1]:8080,pool,UP,2,4,0,{at},400,800,0,0,0,0,ok,1,300",
            f"server,unix:/run/x.sock,pool,DRAIN,3,5,0,{bt},600,1200,0,0,1,1,ok,2,7",
            "backend,spare,,DOWN,0,0,0,0,0,0,0,0,0,0,,0,50",
            "server,10.0.0.9:80,spare,MAINT,0,0,0,0,0,0,0,0,0,0,timeout,0,50",
        ]) + "\n"


STAT_JSON = ('[{"type":"listener","name":"front","parent":"pool","status":"OPEN","cur":5,'
             '"max":9,"limit":100,"total":1,"bytes_in":1,"bytes_out":2,"denied":0,"errors":0,'
             '"connect_errors":0,"retries":0,"health":"","weight":null,"last_change_s":3},\n'
             '{"type":"server","name":"[::1]:8080","parent":"pool","status":"UP","cur":1,'
             '"max":1,"limit":0,"total":1,"bytes_in":1,"bytes_out":2,"denied":0,"errors":0,'
             '"connect_errors":0,"retries":0,"health":"ok","weight":1,"last_change_s":3}]\n')

CONNS = ("conn=1 client=127.0.0.1:50000 listener=front backend=pool server=[::1]:8080 "
         "state=RELAYING age_ms=1500 bytes_in=10 bytes_out=20\n"
         "conn=2 client=[::1]:40000 listener=front backend=pool server=- "
         "state=RELAYING age_ms=3 bytes_in=0 bytes_out=0\n")


class FakeStats:
    """A unix socket answering command lines the way netpolld's stats
    socket does: each answer, then an empty line. ANSWERS maps a command
    to its answer text (or a function returning it); unknown commands get
    `error: unknown command`. MODE "silent" reads and never answers;
    "hangup" answers one partial line and closes; "flood" sends more
    than 64 MiB without ever ending the answer. Every command received is
    recorded, and each connection's commands too."""

    def __init__(self, path, answers=None, mode="answer"):
        self.path, self.answers, self.mode = path, answers or {}, mode
        self.commands, self.per_conn, self.conns = [], [], []
        self.lock = threading.Lock()
        self.closing = False
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self):
        while not self.closing:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(conn)
                mine = []
                self.per_conn.append(mine)
            threading.Thread(target=self._serve, args=(conn, mine), daemon=True).start()

    def _answer(self, cmd):
        a = self.answers.get(cmd)
        if a is None:
            return "error: unknown command\n"
        return a() if callable(a) else a

    def _serve(self, conn, mine):
        buf = b""
        try:
            while True:
                b = conn.recv(4096)
                if not b:
                    return
                buf += b
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    cmd = line.decode()
                    with self.lock:
                        self.commands.append(cmd)
                        mine.append(cmd)
                    self._reply(conn, cmd)
        except OSError:
            pass
        finally:
            conn.close()

    def _reply(self, conn, cmd):
        if self.mode == "silent":
            return
        if self.mode == "hangup":
            conn.sendall(b"version: 0.1.0\n")
            conn.shutdown(socket.SHUT_RDWR)
            raise OSError("hung up on purpose")
        if self.mode == "flood":
            line = b"x" * 1023 + b"\n"
            for _ in range(65 * 1024 + 1):
                conn.sendall(line)
            return
        conn.sendall((self._answer(cmd) + "\n").encode())

    def count(self, cmd):
        with self.lock:
            return self.commands.count(cmd)

    def close(self):
        """Goes away as a stopped daemon does: socket file removed."""
        self.closing = True
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def daemon_answers(d):
    return {"show info": d.info, "show stat": d.stat, "show stat json": STAT_JSON,
            "show conns": CONNS}


@pytest.fixture
def sock_path(tmp_path):
    return str(tmp_path / "stats.sock")


class FakeFactory:
    """Makes FakeStats (at SOCK_PATH unless told) and remembers them."""

    def __init__(self, sock_path):
        self.sock_path, self.made = sock_path, []

    def __call__(self, answers=None, mode="answer", path=None):
        f = FakeStats(path or self.sock_path, answers, mode)
        self.made.append(f)
        return f


@pytest.fixture
def fake(sock_path):
    """Factory for fake stats sockets; all closed after the test."""
    factory = FakeFactory(sock_path)
    yield factory
    for f in factory.made:
        f.close()


def ctl(*args, timeout=TIMEOUT):
    return subprocess.run([NETPOLLCTL, *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


# ---- one-shot commands ------------------------------------------------

def test_info_sends_show_info_and_prints_the_answer_as_is(fake, sock_path):
    d = Daemon()
    f = fake(daemon_answers(d))
    r = ctl("-s", sock_path, "info")
    assert r.returncode == 0, r.stderr
    assert f.commands == ["show info"]
    assert r.stdout.startswith("version: 0.1.0\npid: 4242\n")
    assert "connections_total: 1050\n" in r.stdout
    assert r.stdout.endswith("log_dropped: 7\n")     # the empty line is protocol, not output
    assert r.stderr == ""


def test_info_json_is_an_object_with_numbers_as_numbers(fake, sock_path):
    info = ("version: 0.1.0\npid: 77\nuptime_s: 5\ngeneration: 0\n"
            "last_reload: failed: /etc/netpolld/netpolld.conf:3: unknown key \"x\"\n"
            "connections_current: 0\nconnections_total: 12345678901234\nbytes_in: 0\n"
            "bytes_out: 9\naccept_paused: 1\nbuffers_in_use: 0\npipes_in_use: 0\n"
            "log_dropped: 0\n")
    fake({"show info": info})
    # Options after the command work as well as before it.
    r = ctl("info", "--json", "-s", sock_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["version"] == "0.1.0"
    assert doc["pid"] == 77 and doc["accept_paused"] == 1
    assert doc["connections_total"] == 12345678901234
    assert doc["last_reload"] == 'failed: /etc/netpolld/netpolld.conf:3: unknown key "x"'
    assert list(doc) == ["version", "pid", "uptime_s", "generation", "last_reload",
                         "connections_current", "connections_total", "bytes_in",
                         "bytes_out", "accept_paused", "buffers_in_use", "pipes_in_use",
                         "log_dropped"]


def test_stat_prints_an_aligned_table_with_servers_under_their_backend(fake, sock_path):
    d = Daemon(base=0)
    f = fake(daemon_answers(d))
    r = ctl("-s", sock_path, "stat")
    assert r.returncode == 0, r.stderr
    assert f.commands == ["show stat"]
    lines = r.stdout.splitlines()
    head = lines[0].split()
    assert head == ["TYPE", "NAME", "PARENT", "STATUS", "CUR", "MAX", "LIMIT", "TOTAL",
                    "BYTES_IN", "BYTES_OUT", "DENIED", "ERRORS", "CONN_ERR", "RETRIES",
                    "HEALTH", "WEIGHT", "CHANGE"]
    rows = [ln.split() for ln in lines[1:]]
    assert [row[:4] for row in rows] == [
        ["listener", "front", "pool", "OPEN"], ["backend", "pool", "-", "UP"],
        ["server", "[::1]:8080", "pool", "UP"], ["server", "unix:/run/x.sock", "pool", "DRAIN"],
        ["backend", "spare", "-", "DOWN"], ["server", "10.0.0.9:80", "spare", "MAINT"]]
    # Every row has every column: empty cells (weight, health) print "-".
    assert all(len(row) == 17 for row in rows)
    assert rows[0][14:16] == ["-", "-"] and rows[2][14:16] == ["ok", "1"]
    # Aligned: each STATUS starts under its heading; servers are indented.
    status_at, name_at = lines[0].index("STATUS"), lines[0].index("NAME")
    for ln, row in zip(lines[1:], rows):
        assert ln[status_at:].startswith(row[3]), ln
        indent = 2 if row[0] == "server" else 0
        assert ln[name_at + indent:].startswith(row[1]), ln
    # Right-aligned numbers end under their heading's end.
    change_end = lines[0].index("CHANGE") + len("CHANGE")
    assert all(len(ln) == change_end for ln in lines)


def test_stat_json_passes_the_daemons_document_through(fake, sock_path):
    f = fake(daemon_answers(Daemon()))
    r = ctl("--json", "-s", sock_path, "stat")
    assert r.returncode == 0, r.stderr
    assert f.commands == ["show stat json"]
    assert r.stdout == STAT_JSON
    rows = json.loads(r.stdout)
    assert rows[0]["weight"] is None and rows[1]["name"] == "[::1]:8080"


def test_conns_prints_the_lines_and_json_objects(fake, sock_path):
    f = fake(daemon_answers(Daemon()))
    r = ctl("-s", sock_path, "conns")
    assert r.returncode == 0, r.stderr
    assert r.stdout == CONNS
    r = ctl("-s", sock_path, "conns", "--json")
    assert r.returncode == 0, r.stderr
    assert f.commands == ["show conns", "show conns"]
    doc = json.loads(r.stdout)
    assert doc == [
        {"conn": 1, "client": "127.0.0.1:50000", "listener": "front", "backend": "pool",
         "server": "[::1]:8080", "state": "RELAYING", "age_ms": 1500, "bytes_in": 10,
         "bytes_out": 20},
        {"conn": 2, "client": "[::1]:40000", "listener": "front", "backend": "pool",
         "server": None, "state": "RELAYING", "age_ms": 3, "bytes_in": 0, "bytes_out": 0}]


def test_conns_with_no_connection_is_empty_output_and_an_empty_array(fake, sock_path):
    fake({"show conns": ""})
    assert ctl("-s", sock_path, "conns").stdout == ""
    r = ctl("-s", sock_path, "conns", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == []


@pytest.mark.parametrize("verb", ["enable", "disable", "drain"])
def test_server_control_sends_the_command_and_prints_ok(fake, sock_path, verb):
    target = "pool/unix:/run/x.sock"
    f = fake({f"server {verb} {target}": f"ok: server {target} {verb}d\n"})
    r = ctl("-s", sock_path, verb, target)
    assert r.returncode == 0, r.stderr
    assert f.commands == [f"server {verb} {target}"]
    assert r.stdout == f"ok: server {target} {verb}d\n"


def test_server_control_error_answer_exits_1_on_stderr(fake, sock_path):
    fake({"server disable pool/[::1]:9": "error: no server [::1]:9 in backend pool\n"})
    r = ctl("-s", sock_path, "disable", "pool/[::1]:9")
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == "error: no server [::1]:9 in backend pool\n"


def test_reload_ok_and_failed(fake, sock_path, tmp_path):
    fake({"reload": "ok: generation 3\n"})
    r = ctl("-s", sock_path, "reload")
    assert (r.returncode, r.stdout) == (0, "ok: generation 3\n")
    other = str(tmp_path / "other.sock")
    f = fake({"reload": "error: reload failed\nerror: /etc/n.conf:3: unknown key \"x\"\n"
                        "error: /etc/n.conf:9: bad duration \"5x\"\n"}, path=other)
    r = ctl("-s", other, "reload")
    assert r.returncode == 1
    assert f.commands == ["reload"]
    assert r.stderr.splitlines() == ["error: reload failed",
                                     'error: /etc/n.conf:3: unknown key "x"',
                                     'error: /etc/n.conf:9: bad duration "5x"']


def test_an_error_answer_to_info_exits_1(fake, sock_path):
    fake({})
    r = ctl("-s", sock_path, "info", "--json")
    assert r.returncode == 1
    assert r.stdout == "" and r.stderr == "error: unknown command\n"


# ---- usage, version, help ---------------------------------------------

@pytest.mark.parametrize("args", [
    ["-s", "SOCK"], ["-s", "SOCK", "frobnicate"], ["-s", "SOCK", "info", "extra"],
    ["-s", "SOCK", "enable"], ["-s", "SOCK", "enable", "pool"],
    ["-s", "SOCK", "drain", "/10.0.0.1:80"], ["-s", "SOCK", "disable", "pool/"],
    ["-s", "SOCK", "info", "--bogus"], ["info", "-s"], ["-s", "", "info"],
    ["-s", "SOCK", "enable", "pool/a\nreload"],
])
def test_usage_errors_exit_2_without_talking_to_the_daemon(fake, sock_path, args):
    f = fake(daemon_answers(Daemon()))
    args = [sock_path if a == "SOCK" else a for a in args]
    r = ctl(*args)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert r.stderr.startswith("netpollctl: ")
    assert "usage: netpollctl" in r.stderr
    assert f.commands == []


def test_version_and_help():
    with open(os.path.join(ROOT, "VERSION")) as fh:
        version = fh.read().strip()
    for flag in ("-V", "--version"):
        r = ctl(flag)
        assert (r.returncode, r.stdout) == (0, f"netpollctl {version}\n")
    r = ctl("--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: netpollctl")
    for word in ("info", "stat", "conns", "enable", "disable", "drain", "reload", "watch",
                 "--json", "/run/netpolld/stats.sock"):
        assert word in r.stdout


# ---- cannot reach, time and size bounds --------------------------------

def test_missing_socket_exits_3_with_a_clear_message(sock_path):
    r = ctl("-s", sock_path, "info")
    assert r.returncode == 3
    assert r.stderr == f"netpollctl: cannot connect to {sock_path}: No such file or directory\n"


def test_socket_nobody_listens_on_exits_3_refused(sock_path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(sock_path)
    s.close()                       # the file stays, nobody listens: a dead daemon
    r = ctl("-s", sock_path, "stat")
    assert r.returncode == 3
    assert r.stderr == f"netpollctl: cannot connect to {sock_path}: Connection refused\n"


def test_daemon_that_never_answers_times_out_with_exit_3(fake, sock_path):
    f = fake(mode="silent")
    start = time.monotonic()
    r = ctl("-s", sock_path, "info", timeout=TIMEOUT + 10)
    elapsed = time.monotonic() - start
    assert r.returncode == 3
    assert f.commands == ["show info"]
    assert r.stderr == f"netpollctl: {sock_path}: timed out after 5 s\n"
    assert 4.5 <= elapsed < 5 + 5, elapsed


def test_connection_closed_mid_answer_exits_3(fake, sock_path):
    fake(mode="hangup")
    r = ctl("-s", sock_path, "info")
    assert r.returncode == 3
    assert r.stdout == ""
    assert r.stderr == f"netpollctl: {sock_path}: connection closed before the answer ended\n"


def test_an_answer_over_64_mib_is_refused_with_exit_3(fake, sock_path):
    fake(mode="flood")
    r = ctl("-s", sock_path, "stat")
    assert r.returncode == 3
    assert r.stdout == ""
    assert r.stderr == f"netpollctl: {sock_path}: answer larger than 64 MiB\n"


# ---- watch without a terminal ------------------------------------------

RATE_RX = re.compile(r"conn/s (\S+)  in (-|[\d.]+ \S+/s)  out (-|[\d.]+ \S+/s)  current (\S+)")


def test_watch_without_a_tty_prints_plain_frames_and_stops_on_sigterm(fake, sock_path):
    f = fake(daemon_answers(Daemon()))
    p = subprocess.Popen([NETPOLLCTL, "-s", sock_path, "watch"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: f.count("show info") >= 3, what="three watch ticks")
        # Each tick asks both questions on one connection (the third tick
        # may still be under way, the first two are done).
        assert f.per_conn[:2] == [["show info", "show stat"]] * 2
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=TIMEOUT)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert "\033" not in out                 # no terminal, no escape sequences
    frames = [fr for fr in out.split("\n\n") if fr.startswith("netpollctl watch")]
    assert len(frames) >= 2, out
    rates = [RATE_RX.search(fr) for fr in out.split("netpollctl watch")[1:]]
    assert rates[0] and rates[0].group(1) == "-"      # nothing to compare with yet
    assert rates[1] and 20 <= float(rates[1].group(1)) <= 80, rates[1].group(0)


# ---- watch in a terminal ---------------------------------------------

DONE_RX = re.compile(r"DONE exit=(\d+) tty=(same|changed)")


class Tmux:
    """One detached 160x40 tmux session on a private server, running sh."""

    def __init__(self, tmp_path):
        self.sock = str(tmp_path / "tmux.sock")
        self.tmp = tmp_path
        self.run("new-session", "-d", "-x", "160", "-y", "40", "-s", "w", "sh")

    def run(self, *args):
        r = subprocess.run(["tmux", "-S", self.sock, *args], capture_output=True, text=True,
                           timeout=TIMEOUT)
        assert r.returncode == 0, (args, r.stderr)
        return r.stdout

    def type(self, line):
        self.run("send-keys", "-t", "w", "-l", line)
        self.run("send-keys", "-t", "w", "Enter")

    def keys(self, *keys):
        self.run("send-keys", "-t", "w", *keys)

    def screen(self):
        return self.run("capture-pane", "-p", "-t", "w")

    def flag(self, name):
        return self.run("display", "-p", "-t", "w", "#{" + name + "}").strip()

    def wait_screen(self, predicate, what, timeout=TIMEOUT):
        """Waits for a screen PREDICATE accepts; returns its value."""
        return wait_until(lambda: predicate(self.screen()), timeout, interval=0.05, what=what)

    def start_watch(self, sock_path):
        """Runs watch from the shell, noting its pid, its exit status and
        whether the terminal settings afterwards equal those before."""
        pidfile = self.tmp / "watch.pid"
        q = shlex.quote
        before = q(str(self.tmp / "tty.before"))
        # The DONE line only the output can match, not the echoed command.
        self.type(f"stty -g > {before}; "
                  f"sh -c 'echo $$ > {q(str(pidfile))}; exec {q(NETPOLLCTL)} -s {q(sock_path)} watch'; "
                  f"rc=$?; echo \"DONE exit=$rc tty=$(stty -g | cmp -s - {before} "
                  f"&& echo same || echo changed)\"")
        wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), what="watch's pid")
        return int(pidfile.read_text())

    def wait_done(self):
        """Waits for watch to end; returns (exit status, tty same?, screen)."""
        screen = self.wait_screen(lambda s: DONE_RX.search(s) and s, "the shell after watch")
        m = DONE_RX.search(screen)
        return int(m.group(1)), m.group(2) == "same", screen

    def close(self):
        subprocess.run(["tmux", "-S", self.sock, "kill-server"], capture_output=True,
                       timeout=TIMEOUT)


@pytest.fixture
def tmux(tmp_path):
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    t = Tmux(tmp_path)
    yield t
    t.close()


def rates_of(screen):
    m = RATE_RX.search(screen)
    return m.groups() if m else None


def row_of(screen, name):
    """The watch table's row for NAME, split: name type status cur total conn/s [health]."""
    for ln in screen.splitlines():
        if ln.split()[:1] == [name]:
            return ln
    return None


def numeric_rate(screen):
    r = rates_of(screen)
    return r if r and r[0] != "-" else None


def test_watch_shows_rates_servers_and_health(fake, sock_path, tmux):
    fake(daemon_answers(Daemon()))
    tmux.start_watch(sock_path)
    screen = tmux.wait_screen(lambda s: numeric_rate(s) and s, "a frame with rates")
    conns, bin_, bout, current = rates_of(screen)
    assert 20 <= float(conns) <= 80, screen          # 50 a tick, about a second apart
    num, unit = bin_.split()
    assert unit == "MiB/s" and 1.5 <= float(num) <= 4.5, screen     # 3 MiB a tick
    num, unit = bout.split()
    assert unit == "KiB/s" and 256 <= float(num) <= 768, screen     # 512 KiB a tick
    assert current == "5"
    assert "pid 4242" in screen and "uptime 1d 01:01:" in screen
    assert "generation 2" in screen and "last reload: ok" in screen
    assert "accept_paused 0" in screen and "log_dropped 7" in screen
    # Servers, indented under their backend, with status, rate and health.
    a = row_of(screen, "[::1]:8080")
    b = row_of(screen, "unix:/run/x.sock")
    m = row_of(screen, "10.0.0.9:80")
    assert a.startswith("  ") and b.startswith("  ") and m.startswith("  ")
    assert a.split()[1:3] == ["server", "UP"] and a.split()[-1] == "ok"
    assert b.split()[1:3] == ["server", "DRAIN"]
    assert m.split()[1:3] == ["server", "MAINT"] and m.split()[-1] == "timeout"
    assert 8 <= float(a.split()[5]) <= 32 and 12 <= float(b.split()[5]) <= 48, screen
    assert row_of(screen, "front").split()[1:3] == ["listener", "OPEN"]
    assert row_of(screen, "spare").split()[1:3] == ["backend", "DOWN"]
    assert tmux.flag("alternate_on") == "1" and tmux.flag("cursor_flag") == "0"


def test_watch_survives_the_daemon_going_away_and_restarts_rates_cleanly(fake, sock_path, tmux):
    fake(daemon_answers(Daemon(pid=4242, base=10**9)))
    tmux.start_watch(sock_path)
    tmux.wait_screen(numeric_rate, "a frame with rates")
    # The daemon stops: its socket file disappears.
    fake.made[0].close()
    tmux.wait_screen(lambda s: f"netpolld not reachable at {sock_path}: "
                               "No such file or directory; retrying" in s, "the not-reachable line")
    assert tmux.flag("alternate_on") == "1"          # still running
    # It comes back as a new process with counters far below the old ones.
    fake(daemon_answers(Daemon(pid=5555, base=0)))
    seen = []

    def recovered(s):
        if "pid 5555" in s and rates_of(s):
            seen.append(rates_of(s))
        return numeric_rate(s) if "pid 5555" in s else None
    tmux.wait_screen(recovered, "rates after the restart")
    assert seen[0][0] == "-", seen                   # no rate across the restart
    assert all(r[0] == "-" or 20 <= float(r[0]) <= 80 for r in seen), seen


def test_watch_treats_a_counter_going_back_as_a_restart(fake, sock_path, tmux):
    # Same pid (pid 1 in a container), counters reset: no negative rate.
    d = Daemon(pid=1, base=10**9)
    f = fake(daemon_answers(d))
    tmux.start_watch(sock_path)
    tmux.wait_screen(numeric_rate, "a frame with rates")
    d2 = Daemon(pid=1, base=0)
    f.answers.update(daemon_answers(d2))
    seen = []

    def after(s):
        if "pid 1 " in s and rates_of(s) and d2.tick:
            seen.append(rates_of(s)[0])
        return d2.tick >= 3 and numeric_rate(s)
    tmux.wait_screen(after, "rates after the counters went back")
    assert "-" in seen, seen
    assert all(r == "-" or 0 <= float(r) <= 80 for r in seen), seen


@pytest.mark.parametrize("how", ["q", "ctrl-c", "sigterm", "sighup"])
def test_watch_gives_the_terminal_back_on_every_way_out(fake, sock_path, tmux, how):
    fake(daemon_answers(Daemon()))
    pid = tmux.start_watch(sock_path)
    tmux.wait_screen(lambda s: "CONN/S" in s and "conn/s" in s, "a watch frame")
    assert tmux.flag("alternate_on") == "1"
    assert tmux.flag("cursor_flag") == "0"
    if how == "q":
        tmux.keys("q")
    elif how == "ctrl-c":
        tmux.keys("C-c")
    else:
        os.kill(pid, signal.SIGTERM if how == "sigterm" else signal.SIGHUP)
    status, tty_same, screen = tmux.wait_done()
    assert status == 0 and tty_same, screen
    assert "CONN/S" not in screen and "conn/s" not in screen, screen
    assert tmux.flag("alternate_on") == "0"
    assert tmux.flag("cursor_flag") == "1"


def test_watch_without_a_daemon_keeps_retrying_until_q(sock_path, tmux):
    tmux.start_watch(sock_path)
    tmux.wait_screen(lambda s: f"netpolld not reachable at {sock_path}: "
                               "No such file or directory; retrying" in s, "the not-reachable line")
    tmux.keys("q")
    status, tty_same, screen = tmux.wait_done()
    assert status == 0 and tty_same, screen
