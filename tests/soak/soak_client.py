"""A soak client worker: one process, one asyncio loop, keeping
CONCURRENCY connections of mixed shapes going through the proxy until
its deadline, then finishing those in flight. The soak runs a few of
them so that the client side can use more than one core.

    python3 soak_client.py CONFIG_JSON

CONFIG_JSON: {"worker": N, "seed": N, "concurrency": N, "seconds": S,
"targets": {"plain": [[listener, host, port], ...], "proxy": [...]},
"results": PATH, "bulk_scale": F, "stall_s": S}

Every finished connection is one JSON line in PATH (soak_conn.Conn.record);
at the end one JSON line on stdout says what the worker achieved.
"""
import asyncio
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from soak_conn import Conn  # noqa: E402
from soak_shapes import random_plan  # noqa: E402


class Worker:
    def __init__(self, cfg):
        self.cfg = cfg
        self.rng = random.Random(cfg["seed"])
        self.live = set()
        self.count = 0
        self.outcomes = {}
        self.bytes = 0
        self.conc_samples = []
        self.out = open(cfg["results"], "w")

    def next_tag(self):
        self.count += 1
        return (self.cfg["worker"] << 40) | self.count

    def target_for(self, plan):
        kind = "proxy" if plan.proxy is not None else "plain"
        return tuple(self.rng.choice(self.cfg["targets"][kind]))

    async def slot(self, deadline):
        # Spread the first connects over a second: no thundering herd.
        await asyncio.sleep(self.rng.uniform(0, 1.0))
        while time.monotonic() < deadline:
            plan = random_plan(self.rng, self.cfg.get("bulk_scale", 1.0))
            conn = Conn(plan, self.target_for(plan), self.next_tag())
            conn.task = asyncio.ensure_future(conn.run())
            self.live.add(conn)
            await asyncio.wait([conn.task])
            self.live.discard(conn)
            if conn.task.cancelled():
                conn.outcome = "stalled"
                conn.detail = (f"no progress for {self.cfg['stall_s']}s "
                               f"(sent {conn.sent}, received {conn.recvd})")
                conn.t1 = time.time()
            self.finish(conn)

    def finish(self, conn):
        rec = conn.record()
        self.outcomes[rec["outcome"]] = self.outcomes.get(rec["outcome"], 0) + 1
        self.bytes += rec["sent"] + rec["recvd"]
        self.out.write(json.dumps(rec, separators=(",", ":")) + "\n")

    async def watchdog(self):
        """Cancels connections that moved no byte for stall_s: a hang is a
        finding, and the soak must end."""
        stall = self.cfg["stall_s"]
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            self.conc_samples.append(len(self.live))
            for c in list(self.live):
                if now - c.progress > stall and not c.task.done():
                    c.stalled = True
                    c.task.cancel()

    async def main(self):
        started = time.monotonic()
        deadline = started + self.cfg["seconds"]
        dog = asyncio.ensure_future(self.watchdog())
        await asyncio.gather(*(self.slot(deadline) for _ in range(self.cfg["concurrency"])))
        dog.cancel()
        self.out.close()
        samples = self.conc_samples or [0]
        # Time-average over the loaded part (the deadline on), and the peak.
        loaded = samples[:max(1, int(self.cfg["seconds"]))]
        print(json.dumps({
            "worker": self.cfg["worker"], "connections": self.count,
            "outcomes": self.outcomes, "bytes": self.bytes,
            "elapsed_s": round(time.monotonic() - started, 1),
            "conc_avg": round(sum(loaded) / len(loaded), 1), "conc_max": max(samples),
        }), flush=True)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        config = json.load(f)
    asyncio.run(Worker(config).main())
