"""The harness of tests/systemd: the installed netpolld under a real
systemd. A Debian root booted with systemd-nspawn (systemd is PID 1 in
there), netpolld installed into it by `make install DESTDIR=... PREFIX=/usr`,
driven with systemctl and journalctl through nsenter.

One container per session (`container`); every test gets it through `box`,
which brings the units back to a known state before and after the test
(stopped, disabled, no drop-ins, failures reset) and prints the journal of
a failed test. The container shares the host's network namespace, so the
small servers here run on the host's loopback and the tests connect to
the proxy from the host.

A module with its own name, not a conftest.py: tests/integration's modules
`from conftest import ...`, and a second conftest.py would shadow theirs
when both folders are collected at once. The test module imports the
fixtures from here (import this into one test module only: each importing
module would boot its own container).

Every wait has a deadline; nothing sleeps for a fixed time hoping that
something happened meanwhile. Needs root: without it the tests are skipped,
unless NETPOLLD_SYSTEMD_REQUIRED=1 (make check-systemd) makes that a failure.

Environment: NETPOLLD_SRC (the source tree to install; default: this
repository), NETPOLLD_TEST_CACHE (default /var/cache/netpolld-test, where
tests/systemd/rootfs.sh keeps the cached root and where the last run's
journal and console are saved), NETPOLLD_TEST_KEEP=1 (keep the run's root
afterwards), NETPOLLD_TEST_TIMEOUT (seconds, default 20), MAKE.
"""
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings

import pytest

# The helpers tests/integration shares; the test file imports them from here.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from netpolld_testlib import (TIMEOUT, connect, free_port, parse_info,  # noqa: E402,F401
                              parse_logfmt, recv_all, recv_exactly, wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("NETPOLLD_SRC") or os.path.abspath(os.path.join(HERE, "..", ".."))
CACHE = os.environ.get("NETPOLLD_TEST_CACHE", "/var/cache/netpolld-test")
KEEP = os.environ.get("NETPOLLD_TEST_KEEP") == "1"

CONFIG = "/etc/netpolld/netpolld.conf"
STATS_SOCKET = "/run/netpolld/stats.sock"
UNIT_DIR = "/usr/lib/systemd/system"
# Drop-ins the tests write; removed again after each test.
DROPIN_DIRS = ("/etc/systemd/system/netpolld.service.d", "/etc/systemd/system/netpolld.socket.d")
# What `systemctl enable` of the units makes; disabled again after each test.
ENABLE_LINKS = ("/etc/systemd/system/multi-user.target.wants/netpolld.service",
                "/etc/systemd/system/sockets.target.wants/netpolld.socket")
# A clean environment for what runs inside: the host's must not leak in.
INSIDE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
              "LANG": "C.UTF-8", "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0", "TERM": "dumb"}


def hold(predicate, duration, interval=0.1, what="condition"):
    """Asserts that PREDICATE stays true for DURATION seconds, failing at
    the first check where it is not: how a test proves that something
    does *not* happen (a watchdog kill of a healthy daemon)."""
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        if not predicate():
            raise AssertionError(f"{what} stopped holding before {duration}s had passed")
        time.sleep(interval)


def echo(port, payload, timeout=TIMEOUT):
    """One connection: PAYLOAD, a FIN, and everything read back to EOF."""
    s = connect(port, timeout=timeout)
    try:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        return recv_all(s, timeout)
    finally:
        s.close()


class EchoServer:
    """A loopback echo server, a thread per connection. After the client's
    FIN it writes TAG (b"" for a plain echo) and closes, so a client can
    tell which of several servers the proxy chose."""

    def __init__(self, tag=b""):
        self.tag = tag
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.accepted = 0
        self.errors = []
        self.conns = []
        self.lock = threading.Lock()
        self.closing = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

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
            while True:
                b = conn.recv(1 << 16)
                if not b:
                    break
                conn.sendall(b)
            if self.tag:
                conn.sendall(self.tag)
        except OSError as e:
            if not self.closing:
                self.errors.append(e)
        finally:
            conn.close()
            with self.lock:
                self.conns.remove(conn)

    def close(self):
        self.closing = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self.lock:
            for c in list(self.conns):
                try:
                    c.close()
                except OSError:
                    pass


@pytest.fixture
def servers():
    """Factory for echo servers; all are closed after the test."""
    made = []

    def make(tag=b""):
        s = EchoServer(tag)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


def conf_text(listen, servers, *, name="front", global_=None, defaults=None, listener=None,
              backend=None):
    """A libconfig file with one listener NAME and one backend "pool".
    LISTEN and SERVERS are address strings (or lists of them); the keyword
    dicts add raw `key = value;` settings (values are written as given)."""
    def settings(d):
        return "".join(f"    {k} = {v};\n" for k, v in (d or {}).items())

    listen = [listen] if isinstance(listen, str) else listen
    servers = [servers] if isinstance(servers, str) else servers
    listen_s = ", ".join(f'"{a}"' for a in listen)
    servers_s = ",\n".join(f'      {{ address = "{a}"; }}' for a in servers)
    g = {"log_level": '"info"', "log_connections": "true"}
    g.update(global_ or {})
    return (
        f"global = {{\n{settings(g)}}};\n"
        + (f"defaults = {{\n{settings(defaults)}}};\n" if defaults else "")
        + f"listeners = (\n  {{\n    name = \"{name}\";\n"
        + f"    listen = [ {listen_s} ];\n    backend = \"pool\";\n{settings(listener)}  }}\n);\n"
        + "backends = (\n  {\n    name = \"pool\";\n"
        + f"{settings(backend)}    servers = (\n{servers_s}\n    );\n  }}\n);\n"
    )


def _die_with_parent():
    """Runs in the child before exec: SIGTERM it if the harness dies, so
    systemd-nspawn powers its container off instead of outliving us."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _read_pid(path):
    try:
        with open(path) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def _comm(pid):
    """PID's command name, or None once it is gone (or a zombie reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    if stat.rsplit(")", 1)[1].split()[0] == "Z":
        return None
    return stat[stat.index("(") + 1:stat.rindex(")")]


class Container:
    """One booted container: a private copy of the cached root, netpolld
    installed into it, systemd running as its PID 1."""

    def __init__(self):
        runs = os.path.join(CACHE, "runs")
        os.makedirs(runs, exist_ok=True)
        self._remove_stale_runs(runs)
        self.name = f"netpolld-test-{os.getpid()}"
        self.dir = os.path.join(runs, self.name)
        os.makedirs(self.dir)
        with open(os.path.join(self.dir, "owner.pid"), "w") as f:
            f.write(f"{os.getpid()}\n")
        self.root = os.path.join(self.dir, "root")
        self.proc = None
        self.pid1 = None
        self.console_path = os.path.join(self.dir, "console.log")
        self.notes = []         # what the set-up had to work around

    @staticmethod
    def _remove_stale_runs(runs):
        """Runs left by a harness that was killed: their owner is gone.
        Their container should have gone with it (nspawn gets SIGTERM when
        its parent dies); if it is still up, it is stopped first."""
        for name in os.listdir(runs):
            path = os.path.join(runs, name)
            owner = _read_pid(os.path.join(path, "owner.pid"))
            if owner is not None and _pid_alive(owner):
                continue
            nspawn = _read_pid(os.path.join(path, "nspawn.pid"))
            if nspawn is not None and _comm(nspawn) == "systemd-nspawn":
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    os.kill(nspawn, sig)
                    try:
                        wait_until(lambda: _comm(nspawn) != "systemd-nspawn", timeout=30,
                                   interval=0.1, what="a stale systemd-nspawn to exit")
                        break
                    except AssertionError:
                        continue
            shutil.rmtree(path, ignore_errors=True)

    # --- set-up -------------------------------------------------------

    def prepare(self, uncaptured):
        t0 = time.monotonic()
        # Its progress ("building the root, about a minute") and errors go
        # straight to the terminal.
        with uncaptured():
            r = subprocess.run([os.path.join(HERE, "rootfs.sh"), self.root], timeout=1200)
        assert r.returncode == 0, "rootfs.sh failed (its messages are above)"
        self.timings = {"root": time.monotonic() - t0}
        t0 = time.monotonic()
        self.install()
        self.timings["install"] = time.monotonic() - t0

    def install(self):
        """`make install` of the source tree under test, as a packager
        would run it, into the container's root."""
        build = os.path.join(self.dir, "build")
        env = {k: v for k, v in os.environ.items()
               if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
        make = os.environ.get("MAKE", "make")
        r = subprocess.run([make, "-C", SRC, f"BUILD={build}", f"-j{os.cpu_count() or 2}",
                            "install", f"DESTDIR={self.root}", "PREFIX=/usr"],
                           capture_output=True, text=True, env=env, timeout=600)
        assert r.returncode == 0, f"make install failed:\n{(r.stdout + r.stderr)[-4000:]}"
        for rel in ("usr/sbin/netpolld", UNIT_DIR.lstrip("/") + "/netpolld.service"):
            assert os.path.isfile(os.path.join(self.root, rel)), f"make install left no /{rel}"

    def boot(self):
        t0 = time.monotonic()
        console = open(self.console_path, "wb")
        # No --private-network: the container shares the host's network
        # namespace, so both sides meet on 127.0.0.1. --register=no and
        # --keep-unit: there is no systemd on the host to talk to.
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "--quiet", "-D", self.root, "-M", self.name, "--register=no",
             "--keep-unit", "--private-users=no", "--link-journal=no", "--console=pipe", "-b"],
            stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent)
        console.close()
        with open(os.path.join(self.dir, "nspawn.pid"), "w") as f:
            f.write(f"{self.proc.pid}\n")
        self.pid1 = wait_until(self._find_pid1, timeout=30, what="the container's PID 1")

        def booted():
            r = self.run("systemctl", "is-system-running", check=False, timeout=10)
            return r.stdout.strip() in ("running", "degraded") and r.stdout.strip()
        state = wait_until(booted, timeout=90, interval=0.1, what="systemd to finish booting")
        if state == "degraded":
            failed = self.run("systemctl", "--failed", "--no-legend", check=False).stdout
            self.notes.append(f"container booted degraded; failed units: {failed.strip()}")
        self.timings["boot"] = time.monotonic() - t0

    def _find_pid1(self):
        """The nspawn child that became the container's init."""
        if self.proc.poll() is not None:
            raise AssertionError(f"systemd-nspawn exited ({self.proc.returncode}):\n"
                                 + self.console())
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if ppid != self.proc.pid:
                    continue
                with open(f"/proc/{entry}/comm") as f:
                    comm = f.read().strip()
                # Its root is our directory (readlink says "/": the path
                # is the one inside its own mount namespace).
                st, mine = os.stat(f"/proc/{entry}/root"), os.stat(self.root)
                if comm == "systemd" and (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino):
                    return int(entry)
            except (OSError, ValueError, IndexError):
                continue
        return None

    # --- tear-down ----------------------------------------------------

    def shutdown(self):
        """Saves the journal, powers off (bounded), removes the run."""
        if self.proc is not None and self.proc.poll() is None:
            if self.pid1 is not None:
                try:
                    journal = self.run("journalctl", "-b", "--no-pager", "-o", "short-monotonic",
                                       check=False, timeout=30).stdout
                    with open(os.path.join(CACHE, "last-run-journal.txt"), "w") as f:
                        f.write(journal)
                    self.run("systemctl", "poweroff", "--no-block", check=False, timeout=10)
                except Exception:   # wedged: nspawn's SIGTERM below powers off too
                    pass
            else:
                self.proc.terminate()
            for stop in (None, self.proc.terminate, self.proc.kill):
                if stop is not None:
                    stop()
                try:
                    self.proc.wait(timeout=30)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if os.path.exists(self.console_path):
            shutil.copyfile(self.console_path, os.path.join(CACHE, "last-run-console.txt"))
        if KEEP:
            print(f"kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def console(self):
        try:
            with open(self.console_path, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    # --- commands inside ----------------------------------------------

    def run(self, *argv, check=True, timeout=TIMEOUT, input=None):
        """Runs ARGV inside the container (all its namespaces but the
        cgroup one) as root; returns the CompletedProcess (text)."""
        try:
            r = subprocess.run(["nsenter", "-t", str(self.pid1), "-m", "-u", "-i", "-n", "-p",
                                "--", *argv], capture_output=True, text=True, timeout=timeout,
                               input=input, env=INSIDE_ENV)
        except subprocess.TimeoutExpired as e:
            raise AssertionError(f"{' '.join(argv)} did not finish within {timeout}s "
                                 f"(inside the container)") from e
        if check:
            assert r.returncode == 0, (f"{' '.join(argv)} exited {r.returncode}:\n"
                                       f"{r.stdout}{r.stderr}")
        return r

    def systemctl(self, *args, check=True, timeout=TIMEOUT * 5):
        # Bounded above systemd's own (TimeoutStopSec=60s): a unit that
        # hangs fails with systemd's words, not with our timeout.
        return self.run("systemctl", "--no-pager", *args, check=check, timeout=timeout)

    def show(self, unit, *props):
        out = self.systemctl("show", "-p", ",".join(props), unit).stdout
        return dict(ln.split("=", 1) for ln in out.splitlines() if "=" in ln)

    def main_pid(self, unit="netpolld.service"):
        return int(self.show(unit, "MainPID")["MainPID"])

    def path(self, path):
        """PATH inside, as the host sees it (for /etc; /run and /tmp are
        the container's own tmpfs)."""
        return os.path.join(self.root, path.lstrip("/"))

    def write(self, path, text, mode=0o644):
        """Replaces the file PATH inside in one rename: a reader (a reload)
        sees the old file or the new one, never half of it."""
        host = self.path(path)
        os.makedirs(os.path.dirname(host), exist_ok=True)
        tmp = host + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, host)

    def write_config(self, text):
        self.write(CONFIG, text)

    def reset(self):
        """Units stopped and disabled, drop-ins gone, failures cleared."""
        pid = self.main_pid()
        if pid:
            # A stopped (SIGSTOP) daemon would sit on SIGTERM until SIGKILL.
            self.run("kill", "-CONT", str(pid), check=False)
        self.systemctl("stop", "netpolld.socket", "netpolld.service", check=False)
        removed = False
        for link in ENABLE_LINKS:
            if os.path.lexists(self.path(link)):
                self.systemctl("disable", "--quiet", os.path.basename(link))
        for d in DROPIN_DIRS:
            if os.path.exists(self.path(d)):
                shutil.rmtree(self.path(d))
                removed = True
        if removed:
            self.systemctl("daemon-reload")
        self.systemctl("reset-failed", "netpolld.service", "netpolld.socket", check=False)

    # --- journal ------------------------------------------------------

    def cursor(self):
        out = self.run("journalctl", "-q", "-n", "0", "--show-cursor").stdout
        m = re.search(r"^-- cursor: (\S+)", out, re.M)
        assert m, out
        return m.group(1)

    def entries(self, cursor, *matches):
        """Journal entries after CURSOR (matching MATCHES, journalctl
        arguments) as dicts; MESSAGE is always a str."""
        args = ["journalctl", "-q", "--no-pager", "-o", "json", "--after-cursor", cursor, *matches]
        out = self.run(*args, timeout=30).stdout
        entries = []
        for line in out.splitlines():
            e = json.loads(line)
            msg = e.get("MESSAGE", "")
            if isinstance(msg, list):   # journald stores non-UTF-8 as bytes
                msg = bytes(msg).decode(errors="replace")
            e["MESSAGE"] = msg or ""
            entries.append(e)
        return entries

    def unit_entries(self, cursor, unit="netpolld.service"):
        """What UNIT's processes logged, and what systemd logged about it."""
        return self.entries(cursor, "-u", unit)

    def daemon_lines(self, cursor):
        """The messages netpolld itself wrote (stderr into the journal)."""
        return [e["MESSAGE"] for e in self.unit_entries(cursor)
                if e.get("SYSLOG_IDENTIFIER") == "netpolld"]

    def wait_journal(self, cursor, pattern, unit="netpolld.service", timeout=TIMEOUT, what=None):
        """Waits until a message of UNIT matches PATTERN; returns it. The
        journal takes a stream line a moment after it was written."""
        rx = re.compile(pattern)

        def found():
            for e in self.unit_entries(cursor, unit):
                if rx.search(e["MESSAGE"]):
                    return e
            return None
        try:
            return wait_until(found, timeout=timeout, interval=0.1, what=what or pattern)
        except AssertionError as e:
            raise AssertionError(f"{e}\njournal of {unit}:\n" + self.journal_text(cursor, unit))

    def journal_text(self, cursor, unit=None):
        args = ["journalctl", "-q", "--no-pager", "-o", "short-monotonic", "--after-cursor", cursor]
        if unit:
            args += ["-u", unit]
        return self.run(*args, check=False, timeout=30).stdout[-8000:]


@pytest.fixture(scope="session")
def container(request):
    problem = None
    if os.geteuid() != 0:
        problem = "tests/systemd need root (debootstrap, systemd-nspawn, nsenter)"
    for tool in ("systemd-nspawn", "nsenter", "debootstrap", "flock"):
        if problem is None and shutil.which(tool) is None:
            problem = f"{tool} is not installed (make check-systemd installs it)"
    if problem is not None:
        if os.environ.get("NETPOLLD_SYSTEMD_REQUIRED") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    capman = request.config.pluginmanager.get_plugin("capturemanager")

    def uncaptured():
        return capman.global_and_fixture_disabled() if capman else contextlib.nullcontext()
    c = Container()
    try:
        c.prepare(uncaptured)
        c.boot()
        line = "systemd container: " + ", ".join(f"{k} {v:.1f}s" for k, v in c.timings.items())
        if tr is not None:
            with uncaptured():
                tr.write_line("")
                tr.write_line(line)
        for note in c.notes:
            # A warning: pytest lists it in every run's summary.
            warnings.warn(f"tests/systemd set-up: {note}")
        yield c
    finally:
        c.shutdown()


@pytest.fixture
def box(container, request):
    """The container, its netpolld units back to a known state, and
    `box.test_cursor`: the journal position when the test began."""
    container.reset()
    container.test_cursor = container.cursor()
    failed_before = request.session.testsfailed
    yield container
    # The call phase is reported before fixtures are torn down.
    if request.session.testsfailed > failed_before:
        print("---- container journal during the test ----")
        print(container.journal_text(container.test_cursor))
    container.reset()
