"""The daemon under soak: starting it (stderr to a log file, sanitizer
options set), its stats socket and netpollctl, its log, and what /proc
says about it (descriptors, RSS, TCP states of its sockets)."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from netpolld_testlib import (parse_info, proc_fd_count, proc_fds, proc_rss_kib,  # noqa: E402
                              proc_tcp_sockets, stats_query, wait_until)

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: UndefinedBehaviorSanitizer", "AddressSanitizer:DEADLYSIGNAL")
# quarantine_size_mb: ASan keeps freed memory out of reuse until this
# much more has been freed; small, so that RSS tells a leak from the
# quarantine filling (the default, 256 MB, would dwarf any bound).
ASAN_OPTIONS = "detect_leaks=1:abort_on_error=1:quarantine_size_mb=8:malloc_context_size=10"
UBSAN_OPTIONS = "print_stacktrace=1:halt_on_error=1"
STATS_TIMEOUT = 30


def is_sanitized(binary):
    """Built with -fsanitize=address (gcc links libasan.so, clang the
    runtime itself)."""
    with open(binary, "rb") as f:
        data = f.read()
    return b"libasan.so" in data or b"__asan_init" in data


class Daemon:
    def __init__(self, binary, ctl, config_path, log_path, stats_socket):
        self.binary, self.ctl_binary = binary, ctl
        self.config_path, self.log_path = config_path, log_path
        self.stats_socket = stats_socket
        self.sanitized = is_sanitized(binary)
        self.proc = None

    def check_config(self, path):
        """(ok, output) of `netpolld -t -c PATH`."""
        r = subprocess.run([self.binary, "-t", "-c", path], capture_output=True, text=True,
                           timeout=60, env=self._env())
        return r.returncode == 0, (r.stdout + r.stderr).strip()

    def _env(self):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", ASAN_OPTIONS)
        env.setdefault("UBSAN_OPTIONS", UBSAN_OPTIONS)
        env.pop("NOTIFY_SOCKET", None)
        env.pop("LISTEN_FDS", None)
        return env

    def start(self):
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen([self.binary, "-c", self.config_path],
                                     stdin=subprocess.DEVNULL, stdout=self.log_file,
                                     stderr=self.log_file, env=self._env())
        self.pid = self.proc.pid
        wait_until(self._ready, timeout=60, interval=0.05, what="netpolld's ready line")

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"netpolld exited ({self.proc.returncode}) at start; "
                                 f"log: {self.log_path}")
        with open(self.log_path, "rb") as f:
            return b"ready (" in f.read()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # ---- the stats socket and netpollctl ------------------------------------

    def query(self, *commands):
        """The answers to COMMANDS, sent on one stats socket connection."""
        return stats_query(self.stats_socket, *commands, timeout=STATS_TIMEOUT)

    def info(self):
        return parse_info(self.query("show info")[0])

    def stat_rows(self):
        lines = self.query("show stat")[0].splitlines()
        cols = lines[0][2:].split(",")
        return [dict(zip(cols, ln.split(","))) for ln in lines[1:]]

    def ctl(self, *args):
        """(exit code, output) of netpollctl ARGS."""
        r = subprocess.run([self.ctl_binary, "-s", self.stats_socket, *args],
                           capture_output=True, text=True, timeout=90)
        return r.returncode, (r.stdout + r.stderr).strip()

    def sighup(self):
        self.proc.send_signal(signal.SIGHUP)

    # ---- /proc -------------------------------------------------------------

    def fds(self):
        """{fd: what it is} for every descriptor the daemon holds."""
        return proc_fds(self.pid)

    def fd_count(self):
        return proc_fd_count(self.pid)

    def rss_kb(self):
        return proc_rss_kib(self.pid)

    def tcp_sockets(self):
        """[(local, remote, state hex)] of the TCP sockets it holds."""
        return proc_tcp_sockets(self.pid)

    # ---- the end -------------------------------------------------------------

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def sanitizer_reports(self):
        text = self.log_text()
        return [ln for ln in text.splitlines() if any(m in ln for m in SANITIZER_MARKS)]

    def stop(self, timeout=60):
        """SIGTERM; returns the exit code (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.log_file.close()
                return None
        self.log_file.close()
        return self.proc.returncode


def settle(sample, want, timeout, quiet_s=2.0, interval=0.25):
    """Samples SAMPLE() until WANT(value) has held for QUIET_S (or TIMEOUT
    passes); returns the last value and whether it settled."""
    deadline = time.monotonic() + timeout
    since = None
    value = sample()
    while time.monotonic() < deadline:
        value = sample()
        if want(value):
            since = since or time.monotonic()
            if time.monotonic() - since >= quiet_s:
                return value, True
        else:
            since = None
        time.sleep(interval)
    return value, False
