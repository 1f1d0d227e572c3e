"""Floods of connections, held open:

  flood         thousands of connects, as fast as possible, held open,
                on a listener with max_connections 200: its cur never
                passes 200, the proxy neither spins nor stops serving the
                others, and it takes new clients once the flood is gone
  global_limit  a flood past global.max_connections: connections_current
                never passes it, accepts pause (SPEC: every listener, so
                the good client's new connections wait for this phase;
                its persistent one goes on), stats and metrics still
                answer, no spin, and the pause ends with the flood"""
import collections
import socket
import types

from hostile_config import FLOOD_LIMIT
from hostile_net import open_many, rst_close, settle
from hostile_phase import Phase, ends
from hostile_util import TIMEOUT, now, poll_until

FLOOD_ATTEMPTS = 6000
GLOBAL_EXTRA = 300          # global_limit: this many connects past GLOBAL_MAX


def _open_flood(p, port, n):
    """N connects to PORT, as fast as they go, settled: the sockets
    (.all), how they ended up (.est, .failed, .pending), the connects
    that could not even start (.errors), how long starting took."""
    errors = collections.Counter()
    t = now()
    socks = open_many(port, n, errors)
    connect_s = now() - t
    est, failed, pending = settle(socks, timeout=10, quiet=1.0)
    p.field("attempts", n)
    p.field("held", len(est))
    return types.SimpleNamespace(all=socks, est=est, failed=failed, pending=pending,
                                 errors=errors, connect_s=connect_s)


def _relayed(socks):
    """How many of SOCKS get one byte echoed."""
    served = 0
    for s in socks:
        try:
            s.setblocking(True)
            s.settimeout(TIMEOUT)
            s.sendall(b"f")
            served += s.recv(1) == b"f"
        except OSError:
            pass
    return served


def _flood_look(run, seen):
    """What the hold looks at every half second: the flooded listener's
    cur and status, accept_paused, how long the stats socket takes."""
    def look(p):
        t = now()
        try:
            info, rows = run.info(), run.rows()
        except OSError as e:
            p.check(False, f"stats socket did not answer during the flood: {e}")
            return
        seen["stats_ms"] = max(seen["stats_ms"], (now() - t) * 1000)
        lst = rows[("listener", "flooded")]
        cur = int(lst["cur"])
        seen["cur"] = max(seen["cur"], cur)
        seen["status"].add(lst["status"])
        seen["paused"].add(info["accept_paused"])
        p.check(cur <= FLOOD_LIMIT, f"flooded listener cur {cur} > {FLOOD_LIMIT}")
        cc = int(info["connections_current"])
        p.check(cc <= run.global_max, f"connections_current {cc} > {run.global_max}")
    return look


def _recovered(p, port):
    """Whether a new client, queued behind whatever the flood left in
    the backlog, is served."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT * 3) as c:
            c.sendall(b"back")
            got = b""
            while len(got) < 4:
                b = c.recv(4)
                if not b:
                    break
                got += b
            return got == b"back"
    except OSError as e:
        p.check(False, f"flooded listener after the flood: {e}")
        return False


def _after_flood(run, p):
    """The flooded listener's row once the flood is gone."""
    flooded = ("listener", "flooded")
    back = poll_until(lambda: run.rows()[flooded]["cur"] == "0", TIMEOUT * 3)
    p.check(back, "flooded listener cur did not go back to 0")
    row = run.rows()[flooded]
    p.check(int(row["max"]) <= FLOOD_LIMIT, f"flooded listener max {row['max']} > {FLOOD_LIMIT}")
    p.check(row["status"] == "OPEN", f"flooded listener {row['status']} after the flood")
    total = int(row["total"])
    p.field("accepted", total)
    p.field("ends", ends(run.wait_lines("flooded", total, TIMEOUT)))


def flood(run):
    p = Phase(run, "flood")
    port = run.ports["flooded"]
    batch = _open_flood(p, port, run.n(FLOOD_ATTEMPTS))
    p.field("syn_pending", len(batch.pending))
    p.field("refused", len(batch.failed) + sum(batch.errors.values()))
    p.field("connect_s", batch.connect_s)
    # The first ones in the accept queue were taken: they are relayed.
    served = _relayed(batch.est[:5])
    p.check(served == min(5, len(batch.est)), f"only {served} of the first 5 flood clients relayed")
    seen = {"cur": 0, "stats_ms": 0.0, "paused": set(), "status": set()}
    p.sample_hold(run.hold(6), _flood_look(run, seen))
    p.field("cur_max", seen["cur"])
    p.field("status", "/".join(sorted(seen["status"])))
    p.field("stats_ms_max", seen["stats_ms"])
    p.check(seen["paused"] <= {"0"}, "accept_paused became 1 though only one listener was full")
    p.check("FULL" in seen["status"], "the flooded listener never showed FULL")
    t = now()
    for s in batch.all:
        rst_close(s)
    p.check(_recovered(p, port), "the flooded listener did not serve a new client after the flood")
    p.field("recovery_s", now() - t)
    _after_flood(run, p)
    p.finish()


class _Peak:
    """connections_current as seen during global_limit: the highest, and
    the last value past the limit G (0: none)."""

    def __init__(self, g):
        self.g, self.cc, self.bad = g, 0, 0

    def see(self, info):
        cc = int(info["connections_current"])
        self.cc = max(self.cc, cc)
        if cc > self.g:
            self.bad = cc
        return cc


def _global_look(run, peak, seen):
    """What the hold looks at: stats and metrics answer, accepts stay
    paused, connections_current stays within the limit."""
    def look(p):
        try:
            info = run.info()
            t = now()
            status, body = run.scrape()
            seen["metrics_ms"] = max(seen["metrics_ms"], (now() - t) * 1000)
            p.check(status == 200, f"/metrics answered {status} at the global limit")
        except OSError as e:
            p.check(False, f"stats or metrics did not answer at the global limit: {e}")
            return
        peak.see(info)
        p.check(info["accept_paused"] == "1", "accepts resumed while at the limit")
    return look


def global_limit(run):
    p = Phase(run, "global_limit")
    g = run.global_max
    run.good.pause()            # SPEC: at the global limit every listener waits
    n = min(g + run.n(GLOBAL_EXTRA), 7500)
    socks = _open_flood(p, run.ports["wide"], n).all
    p.field("limit", g)
    p.field("good", "ping-only")
    peak = _Peak(g)

    def reached():
        info = run.info()
        cc = peak.see(info)
        return info["accept_paused"] == "1" and cc == g
    t = now()
    p.check(poll_until(reached, TIMEOUT * 6, 0.1), "never at the global limit with accepts paused")
    p.field("fill_s", now() - t)
    seen = {"metrics_ms": 0.0}
    p.sample_hold(run.hold(5), _global_look(run, peak, seen))
    p.check(not peak.bad, f"connections_current {peak.bad} > global max_connections {g}")
    p.field("current_max", peak.cc)
    p.field("metrics_ms_max", seen["metrics_ms"])
    t = now()
    for s in socks:
        rst_close(s)

    def resumed():
        info = run.info()
        return info["accept_paused"] == "0" and int(info["connections_current"]) <= 1
    p.check(poll_until(resumed, TIMEOUT * 6, 0.1), "accepts did not resume after the flood")
    p.field("resume_s", now() - t)
    run.good.resume()
    row = run.rows()[("listener", "wide")]
    p.field("ends", ends(run.wait_lines("wide", int(row["total"]), TIMEOUT)))
    p.finish()
