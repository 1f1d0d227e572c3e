"""Child processes of the bench and what /proc says about them.

Every child is started through one Launcher: pinned with taskset, with
RLIMIT_NOFILE raised, in a process group of its own (so a stop reaches
whatever it forked, and a Ctrl-C in the terminal reaches only the bench,
which then stops them itself), and recorded, so that cleanup() can kill
whatever is still running however the bench ends.
"""
import os
import resource
import signal
import socket
import subprocess
import time

# The machine's hard limit; every proxy, backend and load generator gets it.
NOFILE = 20000
CLK_TCK = os.sysconf("SC_CLK_TCK")

# taskset CPU lists: the proxy alone on CPU 0, load and backends on CPU 1.
CPU_OF_ROLE = {"proxy": "0", "load": "1"}


class StartError(Exception):
    """A server did not come up."""


class RunError(Exception):
    """A load generator failed, timed out or printed nothing usable."""


def raise_nofile():
    """preexec_fn: RLIMIT_NOFILE to NOFILE, or to the hard limit if lower."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = NOFILE if hard == resource.RLIM_INFINITY else min(NOFILE, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))


def pinning_possible():
    """Two CPUs numbered 0 and 1 that this process may use."""
    return {0, 1} <= os.sched_getaffinity(0)


def free_port():
    """A loopback port nobody listens on now. The proxies and servers bind
    with SO_REUSEADDR, so TIME_WAIT leftovers on it do not matter."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Child:
    """One started process (the leader of its own process group)."""

    def __init__(self, name, popen, log_path):
        self.name = name
        self.popen = popen
        self.log_path = log_path

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def log_tail(self, lines=5):
        if not self.log_path:
            return ""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 4096))
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def _signal_group(self, sig):
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, grace=10.0):
        """SIGTERM, then SIGKILL once GRACE seconds have gone by."""
        if self.alive():
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        # Kill the group even when the leader is gone: a forked worker
        # may have stayed behind.
        self._signal_group(signal.SIGKILL)
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream:
                stream.close()


class Launcher:
    """Starts children pinned by role and remembers them for cleanup()."""

    def __init__(self, tmpdir, pin):
        self.tmpdir = tmpdir
        self.pin = pin
        self.children = []

    def argv(self, role, argv):
        if self.pin:
            return ["taskset", "-c", CPU_OF_ROLE[role], *argv]
        return list(argv)

    def spawn(self, name, role, argv, log_name=None, pipes=False, stdout_pipe=False):
        """Starts ARGV pinned for ROLE; its stderr (and stdout, unless piped)
        goes to LOG_NAME in the temp dir. PIPES: stdin and stdout are pipes."""
        log_path = os.path.join(self.tmpdir, log_name or f"{name}.log")
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(
                self.argv(role, argv),
                stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
                stdout=subprocess.PIPE if pipes or stdout_pipe else log,
                stderr=log,
                preexec_fn=raise_nofile,
                start_new_session=True,
                cwd=self.tmpdir,
            )
        child = Child(name, popen, log_path)
        self.children.append(child)
        return child

    def run(self, name, argv, timeout, check=True):
        """Runs a load generator on the load CPU; returns its stdout.
        Raises RunError if it outlives TIMEOUT seconds or, with CHECK,
        exits non-zero."""
        child = self.spawn(name, "load", argv, log_name=f"{name}.stderr",
                           stdout_pipe=True)
        try:
            out, _ = child.popen.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RunError(f"{argv[0]} still running after {timeout:.0f}s")
        finally:
            self.stop(child, grace=1)
        text = out.decode(errors="replace")
        if check and child.popen.returncode != 0:
            detail = child.log_tail(3) or text.strip()[-300:]
            raise RunError(f"{argv[0]} exited {child.popen.returncode}: {detail}")
        return text

    def stop(self, child, grace=10.0):
        child.stop(grace)
        if child in self.children:
            self.children.remove(child)

    def cleanup(self):
        """Kills every child still running, most recent first."""
        for child in reversed(self.children):
            child.stop(grace=2)
        self.children.clear()


# ---- readiness --------------------------------------------------------------

_TCP_LISTEN = "0A"


def listening(port):
    """Whether a TCP socket is in LISTEN state on PORT. Read from /proc
    rather than tried with connect(): a probe through a proxy would open a
    session to the backend (a bogus iperf3 control connection, say)."""
    want = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split(None, 4)
                    if fields[3] == _TCP_LISTEN and fields[1].endswith(want):
                        return True
        except OSError:
            continue
    return False


def wait_listening(child, port, timeout=10.0):
    """Waits until CHILD listens on PORT; StartError if it exits first or
    TIMEOUT passes."""
    deadline = time.monotonic() + timeout
    while not listening(port):
        if not child.alive():
            raise StartError(f"{child.name} exited {child.popen.returncode}: "
                             f"{child.log_tail()}")
        if time.monotonic() > deadline:
            raise StartError(f"{child.name} not listening on {port} after "
                             f"{timeout:.0f}s: {child.log_tail()}")
        time.sleep(0.05)


# ---- CPU and memory of a process tree --------------------------------------

def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        # The command name may hold spaces and parentheses: split after it.
        return f.read().rsplit(")", 1)[1].split()


def process_tree(root):
    """ROOT and all its descendants that are alive now."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(_stat_fields(entry)[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_seconds(root):
    """utime + stime of ROOT's process tree, in seconds."""
    ticks = 0
    for pid in process_tree(root):
        try:
            fields = _stat_fields(pid)
        except OSError:
            continue
        # Fields 14 and 15 of stat(5); index 0 here is field 3 (state).
        ticks += int(fields[11]) + int(fields[12])
    return ticks / CLK_TCK


def rss_kib(root):
    """VmRSS of ROOT's process tree, in KiB."""
    total = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total
