"""The daemon under test as a process: started with ASAN_OPTIONS and
UBSAN_OPTIONS set so that a sanitizer report aborts it, its log read as
it grows (connection lines parsed), and what /proc says of it: CPU
time, RSS and descriptors, the figures a spinning or leaking proxy
gives itself away by."""
import os
import subprocess

from hostile_util import poll_until
from netpolld_testlib import parse_logfmt, write_config

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "AddressSanitizer:DEADLYSIGNAL")
ASAN_OPTIONS = "detect_leaks=1:abort_on_error=1"
UBSAN_OPTIONS = "print_stacktrace=1:halt_on_error=1"


class DaemonDied(RuntimeError):
    pass


def cpu_seconds(pid):
    """utime + stime of PID (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def is_sanitized(binary):
    with open(binary, "rb") as f:
        return b"__asan_init" in f.read()


def sanitizer_marks(text):
    """The SANITIZER_MARKS that TEXT (a log) contains."""
    return [m for m in SANITIZER_MARKS if m in text]


class Daemon:
    def __init__(self, binary, workdir, text):
        self.conf = os.path.join(workdir, "netpolld.conf")
        write_config(self.conf, text)
        self.log_path = os.path.join(workdir, "netpolld.log")
        self.log_file = open(self.log_path, "wb")
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = ASAN_OPTIONS
        env["UBSAN_OPTIONS"] = UBSAN_OPTIONS
        self.proc = subprocess.Popen([binary, "-c", self.conf], stdout=self.log_file,
                                     stderr=self.log_file, env=env)
        self.pid = self.proc.pid
        self._offset = 0
        self._partial = b""
        self.lines = []             # parsed connection lines, in order
        self.other = []             # every other line

    def alive(self):
        return self.proc.poll() is None

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def read_log(self):
        with open(self.log_path, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        self._offset += len(data)
        data = self._partial + data
        *full, self._partial = data.split(b"\n")
        for raw in full:
            ln = raw.decode(errors="replace")
            if " conn=" in ln:
                self.lines.append(parse_logfmt(ln))
            else:
                self.other.append(ln)

    def conn_lines(self, listener):
        self.read_log()
        return [c for c in self.lines if c.get("listener") == listener]

    def wait_ready(self, timeout):
        def ready():
            if not self.alive():
                raise RuntimeError(f"netpolld exited ({self.proc.returncode}):\n{self.log()}")
            self.read_log()
            return any("ready (" in ln for ln in self.other)
        if not poll_until(ready, timeout):
            raise RuntimeError(f"netpolld not ready within {timeout}s:\n{self.log()}")
