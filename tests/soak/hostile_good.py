"""The peers' processes (hostile_peers.py), spoken to by lines: the echo
backend and the well-behaved client. The good client's round trips are
what every phase reports: a failed one fails the phase, its latency is
reported, never judged (a loaded machine is slow, not wrong)."""
import collections
import json
import os
import subprocess
import sys
import threading

from hostile_util import TIMEOUT, fmt, pct

HERE = os.path.dirname(os.path.abspath(__file__))


class Peer:
    """A hostile_peers.py process, spoken to by lines."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "hostile_peers.py"), *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lines = collections.deque()
        self.cv = threading.Condition()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        for line in self.proc.stdout:
            with self.cv:
                self.lines.append(line.rstrip("\n"))
                self.cv.notify_all()
        with self.cv:
            self.lines.append(None)
            self.cv.notify_all()

    def line(self, timeout=TIMEOUT * 3):
        with self.cv:
            if not self.cv.wait_for(lambda: self.lines, timeout):
                raise RuntimeError(f"{self.proc.args[2:]}: no answer within {timeout}s")
            line = self.lines.popleft()
        if line is None:
            raise RuntimeError(f"{self.proc.args[2:]}: exited ({self.proc.poll()})")
        return line

    def ask(self, cmd, timeout=TIMEOUT * 3):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self.line(timeout)

    def close(self, timeout=TIMEOUT):
        try:
            self.proc.stdin.close()
        except (OSError, BrokenPipeError):
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()


class GoodClient(Peer):
    """`hostile_peers.py good PORT`: its samples are
    [kind, t_start, rtt_ms or None, error or None]."""

    def __init__(self, port):
        super().__init__("good", str(port))

    def wait_started(self):
        self.line()

    def pause(self):
        """Short connections stop (the persistent one goes on)."""
        self.ask("pause")

    def resume(self):
        self.ask("resume")

    def report(self):
        """The samples taken since the last report."""
        return json.loads(self.ask("report"))

    def stop(self):
        """Stops the client; its last samples."""
        samples = json.loads(self.ask("stop"))
        self.close()
        return samples


def judge_samples(samples):
    """(summary fields, failure or None) of the good client's SAMPLES."""
    rtts = [s[2] for s in samples if s[2] is not None]
    fails = [s for s in samples if s[2] is None]
    failure = None
    if fails:
        failure = (f"{len(fails)} well-behaved round trips failed, first: "
                   f"{fails[0][0]} {fails[0][3]}")
    text = (f"good_n={len(rtts)} good_rtt_ms p50={fmt(pct(rtts, 50))} "
            f"p99={fmt(pct(rtts, 99))} max={fmt(max(rtts) if rtts else None)} "
            f"good_failures={len(fails)}")
    return text, failure
