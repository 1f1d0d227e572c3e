"""The soak's backend servers as processes (soak_server.py): start one,
kill it (SIGKILL: its connections are cut by the kernel, resets where
bytes were unread, FINs elsewhere), start it again on its address, and
collect what each printed on stderr."""
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
START_TIMEOUT = 60


class ServerProc:
    def __init__(self, server, workdir):
        self.server = server            # soak_config.Server
        self.workdir = workdir
        self.proc = None
        self.starts = 0
        self.err_paths = []

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        """Starts the server and waits (bounded) until it listens."""
        self.starts += 1
        tag = self.server.address.replace("[", "").replace("]", "").replace(":", "_")
        err = os.path.join(self.workdir, f"server-{tag}-{self.starts}.err")
        self.err_paths.append(err)
        with open(err, "wb") as ef:
            self.proc = subprocess.Popen(
                [sys.executable, os.path.join(HERE, "soak_server.py"), self.server.host,
                 str(self.server.port)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=ef)
        os.set_blocking(self.proc.stdout.fileno(), False)
        deadline = time.monotonic() + START_TIMEOUT
        buf = b""
        while b"ready" not in buf:
            if self.proc.poll() is not None:
                raise AssertionError(f"server {self.server.name} exited at start: "
                                     f"{self.errors()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"server {self.server.name} not ready in {START_TIMEOUT}s")
            try:
                buf += self.proc.stdout.read() or b""
            except (BlockingIOError, TypeError):
                pass
            time.sleep(0.02)
        self.proc.stdout.close()

    def kill(self):
        """SIGKILL; returns once the process (and so every socket it held)
        is gone."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=START_TIMEOUT)

    def freeze(self):
        """SIGSTOP: a hung server. The kernel still completes handshakes
        and takes bytes into the socket buffers; nothing moves on."""
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self):
        self.proc.send_signal(signal.SIGCONT)

    def stop(self):
        if self.alive:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def errors(self):
        """The ERROR lines it printed, over all its starts."""
        out = []
        for p in self.err_paths:
            try:
                with open(p, "rb") as f:
                    text = f.read().decode(errors="replace")
            except OSError:
                continue
            out += [ln for ln in text.splitlines() if ln.strip()]
        return out
