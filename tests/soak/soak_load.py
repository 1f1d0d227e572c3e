"""The soak's client load: running the worker processes (soak_client.py)
for a phase and collecting their records, and single probe connections
(the daemon must answer one whenever the soak asks)."""
import asyncio
import json
import os
import random
import subprocess
import sys
import time

from soak_conn import Conn
from soak_shapes import plan_for

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE_TIMEOUT = 60


class Load:
    def __init__(self, workdir, targets, rng, concurrency, workers, stall_s, bulk_scale):
        self.workdir, self.targets, self.rng = workdir, targets, rng
        self.concurrency, self.nworkers = concurrency, max(1, workers)
        self.stall_s, self.bulk_scale = stall_s, bulk_scale
        self.next_worker = 1        # tags carry it: unique over the run's phases
        self.failures = []

    def run(self, seconds, on_deadline=None):
        """Runs the workers for SECONDS, then calls ON_DEADLINE() (they stop
        starting connections) and waits, bounded, for those in flight.
        Returns (records, what each worker reported)."""
        procs = [self._start(i, seconds) for i in range(self.nworkers)]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and any(p.poll() is None for _, p, _, _ in procs):
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        if on_deadline is not None:
            on_deadline()
        # Each connection in flight ends or is cancelled by the stall watchdog.
        limit = time.monotonic() + self.stall_s + 120
        records, reports = [], []
        for w, p, results, err in procs:
            try:
                out, _ = p.communicate(timeout=max(1.0, limit - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                out, _ = p.communicate()
                self.failures.append((f"client worker {w} did not finish in time", ""))
            err.close()
            if p.returncode != 0:
                with open(err.name, "rb") as f:
                    self.failures.append((f"client worker {w} exited {p.returncode}",
                                          f.read().decode(errors="replace")[-3000:]))
            for line in out.decode(errors="replace").splitlines():
                try:
                    reports.append(json.loads(line))
                except ValueError:
                    pass
            try:
                with open(results) as f:
                    records += [json.loads(ln) for ln in f if ln.strip()]
            except OSError as e:
                self.failures.append((f"client worker {w}: no results", repr(e)))
        return records, reports

    def _start(self, i, seconds):
        w = self.next_worker
        self.next_worker += 1
        n = self.nworkers
        base = os.path.join(self.workdir, f"clients-{w}")
        cfg = {"worker": w, "seed": self.rng.getrandbits(32), "seconds": seconds,
               "concurrency": self.concurrency // n + (i < self.concurrency % n),
               "targets": self.targets, "results": base + ".jsonl", "stall_s": self.stall_s,
               "bulk_scale": self.bulk_scale}
        with open(base + ".json", "w") as f:
            json.dump(cfg, f)
        err = open(base + ".err", "wb")
        p = subprocess.Popen([sys.executable, os.path.join(HERE, "soak_client.py"), base + ".json"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        return w, p, base + ".jsonl", err


def probe(target, proxy, tag, why):
    """One request/response connection to TARGET ([listener, host, port]),
    with a PROXY header first if PROXY (an accept_proxy listener);
    returns its record, with "probe": WHY."""
    rng = random.Random(tag)
    plan = plan_for(rng, "proxy" if proxy else "rr")
    plan.idle_s = 0.0
    conn = Conn(plan, tuple(target), tag)
    asyncio.run(asyncio.wait_for(conn.run(), PROBE_TIMEOUT))
    rec = conn.record()
    rec["probe"] = why
    return rec

