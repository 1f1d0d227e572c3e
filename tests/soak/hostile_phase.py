"""One phase of the hostile run: the fields and checks it collects, the
hold during which it watches the daemon for spinning, and the one
summary line it ends with (its fields, the good client's round trips,
the proxy's CPU time, any failures)."""
import collections
import time

from hostile_daemon import cpu_seconds
from hostile_good import judge_samples
from hostile_util import fmt, now

# A reactor that spins takes a whole core; a quiet one a few percent.
SPIN_FRACTION = 0.5


def ends(lines):
    """The `end=` reasons of connection LINES, counted: `a:3,b:1`."""
    c = collections.Counter(ln.get("end") for ln in lines)
    return ",".join(f"{k}:{v}" for k, v in sorted(c.items())) or "-"


class Phase:
    def __init__(self, run, name):
        self.run, self.name = run, name
        self.fields = []
        self.failures = []
        self.t0 = now()
        self.cpu0 = cpu_seconds(run.d.pid)

    def field(self, key, value):
        self.fields.append((key, value))

    def check(self, ok, what):
        if not ok and what not in self.failures:
            self.failures.append(what)
        return ok

    def cpu_now(self):
        return cpu_seconds(self.run.d.pid)

    def spin_check(self, c0, t0, key, what):
        """The CPU fraction the proxy used since (C0, T0), as field KEY;
        at SPIN_FRACTION or more it fails: the proxy used it WHAT."""
        frac = (self.cpu_now() - c0) / max(now() - t0, 1e-3)
        self.field(key, frac)
        self.check(frac < SPIN_FRACTION, f"the proxy used {frac:.0%} of a core {what}")
        return frac

    def sample_hold(self, seconds, each=None):
        """Holds for SECONDS, looking at the daemon every half second
        (EACH(self) if given). Returns the CPU fraction the proxy used."""
        c0, t0 = self.cpu_now(), now()
        end = t0 + seconds
        while now() < end:
            if each is not None:
                each(self)
            time.sleep(min(0.5, max(0, end - now())))
        return self.spin_check(c0, t0, "hold_cpu_frac", "while held: spinning?")

    def finish(self, samples=None):
        """Closes the phase: the good client's samples, the proxy's CPU,
        the summary line."""
        d = self.run.d
        if samples is None:
            samples = self.run.good.report()
        self.t1 = now()
        self.cpu = cpu_seconds(d.pid) - self.cpu0 if d.alive() else None
        good, failure = judge_samples(samples)
        self.check(failure is None, failure)
        self.check(d.alive(), f"netpolld died (exit {d.proc.returncode})")
        fields = " ".join(f"{k}={fmt(v)}" for k, v in self.fields)
        self.emit(f"hostile: {self.name} {fields} {good} proxy_cpu_s={fmt(self.cpu, 2)} "
                  f"wall_s={fmt(self.t1 - self.t0)}")

    def emit(self, line):
        """Prints the summary LINE, with the failures, and files the
        phase with the run."""
        if self.failures:
            line += " FAIL: " + "; ".join(self.failures)
        print(line, flush=True)
        self.run.phases.append(self)
