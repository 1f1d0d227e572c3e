"""The control phase: stats-socket clients that send command after
command and never read, metrics clients that send requests and never
read. Memory stays bounded (RSS sampled: a daemon that queued every
answer would need gigabytes), a stats client, netpollctl and a scraper
still get answers, the relay goes on. Then more non-readers than the 16
metrics slots, to see how long the endpoint stays saturated."""
import collections
import subprocess
import time

from hostile_config import METRICS_DEADLINE_S, METRICS_SLOTS
from hostile_daemon import rss_kib
from hostile_net import (TCP_ESTABLISHED, nb_connect, open_many, rst_close, settle,
                         tcp_state, unix_nonblocking)
from hostile_phase import Phase
from hostile_util import TIMEOUT, now, pct, poll_until

IDLE_CONNS = 400            # open during `control`, so that `show conns` is large
# Each endpoint serves 16 clients at once. The stuck stats clients stay
# for the whole phase; the metrics non-readers are replaced every
# METRICS_LIFE_S, and even if the daemon has not yet seen the resets of
# the old ones when the new ones come, old and new are fewer than 16: the
# well-behaved clients always find a slot free.
STATS_HOSTILE = 10
METRICS_HOSTILE = 6
METRICS_LIFE_S = 3
METRICS_SATURATE = 24       # well past the 16 slots
# Extra RSS the `control` phase may cost beyond what its answers can hold;
# under ASan, plus its quarantine of freed blocks (256 MiB by default),
# which stays resident. A daemon that queued every answer of the stuck
# stats clients would need gigabytes.
RSS_SLACK_KIB = 96 << 10
ASAN_QUARANTINE_KIB = 256 << 10
STATS_CMDS = b"show conns\nshow stat json\nshow stat\nshow info\n" * 400
METRICS_REQS = (b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 5 +
                b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n" * 5)


class _Control:
    def __init__(self, run):
        self.run = run
        # Stats clients that send command after command and never read:
        # [socket, bytes sent].
        self.stuck = [[unix_nonblocking(run.sock), 0] for _ in range(STATS_HOSTILE)]
        self.mstuck = []            # metrics non-readers: [socket, opened at]
        self.mopened = 0            # how many of them were opened
        self.tally = collections.Counter()     # answers: "stats_ok", "metrics_bad", ...
        self.lat = {"stats": [], "metrics": []}    # the answered ones' ms

    def push(self):
        for st in self.stuck:
            try:
                st[1] += st[0].send(STATS_CMDS[st[1] % len(STATS_CMDS):])
            except OSError:         # BlockingIOError included: it is full
                pass

    def refill(self, target):
        """Metrics clients that send requests and never read; a tiny
        receive window keeps the answer from reaching them. The daemon
        answers the first request, closes, and lets each go within its
        deadlines; each is replaced after METRICS_LIFE_S, so that about
        TARGET of the 16 slots are always taken by them."""
        for m in list(self.mstuck):
            try:
                expired = now() - m[1] > METRICS_LIFE_S or tcp_state(m[0]) != TCP_ESTABLISHED
            except OSError:
                expired = True
            if expired:
                self.mstuck.remove(m)
                rst_close(m[0])
        while len(self.mstuck) < target:
            m = nb_connect(self.run.mport, rcvbuf=1024)
            if not settle([m], timeout=TIMEOUT, quiet=TIMEOUT)[0]:
                m.close()
                break
            try:
                m.send(METRICS_REQS)
            except OSError:
                pass
            self.mstuck.append([m, now()])
            self.mopened += 1

    def probe(self, kind, answered):
        """A well-behaved client of KIND: ANSWERED() says whether its
        answer is right; counted in tally, timed in lat."""
        t = now()
        try:
            ok = answered()
            self.tally[f"{kind}_ok" if ok else f"{kind}_bad"] += 1
            self.lat[kind].append((now() - t) * 1000)
        except OSError as e:
            self.tally[f"{kind}_bad"] += 1
            self.tally[f"{kind}_err:" + type(e).__name__] += 1

    def stats_answered(self):
        a = self.run.ask("show info", "show stat")
        return a[0].startswith("version: ") and a[1].startswith("# type,")

    def metrics_answered(self):
        status, body = self.run.scrape()
        return status == 200 and b"netpolld_connections_current" in body

    def ctl(self):
        try:
            r = subprocess.run([self.run.args.netpollctl, "-s", self.run.sock, "info"],
                               capture_output=True, text=True, timeout=TIMEOUT)
            ok = r.returncode == 0 and "connections_current: " in r.stdout
        except subprocess.TimeoutExpired:
            ok = False
        self.tally["netpollctl_ok" if ok else "netpollctl_bad"] += 1

    def hold(self, seconds, rss_max):
        """SECONDS of non-readers pushing and well-behaved clients asking;
        the highest RSS seen (RSS_MAX at the start)."""
        pid = self.run.d.pid
        self.refill(METRICS_HOSTILE)
        end = now() + seconds
        next_ctl = now()
        while now() < end:
            self.push()
            self.refill(METRICS_HOSTILE)
            self.probe("stats", self.stats_answered)
            self.probe("metrics", self.metrics_answered)
            if now() >= next_ctl:
                self.ctl()
                next_ctl = now() + 2
            rss_max = max(rss_max, rss_kib(pid))
            time.sleep(0.3)
        return rss_max

    def judge(self, p):
        t = self.tally
        p.field("stats_nonreaders", STATS_HOSTILE)
        p.field("stats_cmd_kib_sent", sum(st[1] for st in self.stuck) // 1024)
        p.field("metrics_nonreaders_opened", self.mopened)
        for key in ("stats_ok", "metrics_ok", "netpollctl_ok"):
            p.field(key, t[key])
        p.field("stats_ms_p99", pct(self.lat["stats"], 99))
        p.field("metrics_ms_p99", pct(self.lat["metrics"], 99))
        p.check(not (t["stats_bad"] or t["metrics_bad"] or t["netpollctl_bad"]),
                "control clients failed: " + ", ".join(f"{k}={v}" for k, v in t.items()
                                                       if "bad" in k or "err" in k))
        p.check(t["stats_ok"] and t["metrics_ok"] and t["netpollctl_ok"],
                "no control client was answered")

    def saturate(self, p):
        """Saturation: more silent clients than the 16 metrics slots (a
        connect, then nothing: each holds its slot until the 10 s request
        deadline). Is a scraper refused meanwhile, and how long until it
        is answered again once they stop coming? Returns the clients."""
        for m in self.mstuck:
            rst_close(m[0])
        self.mstuck.clear()
        sat = open_many(self.run.mport, METRICS_SATURATE)
        settle(sat, timeout=TIMEOUT, quiet=2)
        time.sleep(0.5)
        t = now()
        try:
            self.run.scrape(timeout=5)
            refused = False
        except OSError:
            refused = True
        p.field("scraper_refused_when_saturated", "yes" if refused else "no")

        def scraped():
            try:
                return self.run.scrape(timeout=5)[0] == 200
            except OSError:
                return False
        p.check(poll_until(scraped, METRICS_DEADLINE_S + TIMEOUT * 2, 0.5),
                "the metrics endpoint never recovered from saturation")
        p.field("saturation_s", now() - t)
        return sat


def control(run):
    p = Phase(run, "control")
    idle = open_many(run.ports["idle"], run.n(IDLE_CONNS))
    want = len(settle(idle, timeout=TIMEOUT, quiet=3.0)[0])
    run.wait_current(want)
    conns_len = len(run.ask("show conns")[0])
    _, mbody = run.scrape()
    rss0 = rss_kib(run.d.pid)
    p.field("idle_conns", want)
    p.field("show_conns_kib", conns_len // 1024)
    c = _Control(run)
    rss_max = c.hold(run.hold(14), rss0)
    c.judge(p)
    # What the daemon may hold: one answer per stuck stats client and
    # per metrics slot, their input buffers, and allocator slack.
    bound = (STATS_HOSTILE * (conns_len + 4096) + METRICS_SLOTS * (len(mbody) + 8192)) // 1024 \
        + RSS_SLACK_KIB + (ASAN_QUARANTINE_KIB if run.sanitized else 0)
    p.field("rss_kib", f"{rss0}->{rss_max}")
    p.check(rss_max - rss0 <= bound, f"RSS grew {rss_max - rss0} KiB, bound {bound} KiB")
    sat = c.saturate(p)
    for m in sat:
        rst_close(m)
    for st in c.stuck:
        st[0].close()
    for s in idle:
        rst_close(s)
    p.finish()
