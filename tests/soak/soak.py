#!/usr/bin/python3
"""netpolld soak test: hours of production in minutes, on loopback.

    /usr/bin/python3 tests/soak/soak.py --netpolld build-soak/netpolld \\
        --netpollctl build-soak/netpollctl --seconds 300 [--connections 400]

For --seconds it keeps --connections client connections of mixed shapes
(soak_shapes.py) going through four listeners of one daemon to three
backends of real server processes (soak_server.py), every byte checked
by sha256 both ways, while it reloads the configuration (valid and
broken files, SIGHUP and netpollctl), kills and restarts backend
servers, freezes them, and drains and disables servers (soak_faults.py). Then it
checks (soak_checks.py) that every connection that did not complete is
explained by a fault it injected, that the stats socket agrees with the
clients and the log, that the daemon's descriptors and RSS are back
near where they were after a warm-up burst, that it holds no CLOSE-WAIT
socket, still answers, and stops on SIGTERM with exit 0 and no
sanitizer report. It prints one summary line and exits 0 only if every
check passed; on failure it says what failed and keeps its directory
(the daemon's log, the config, the client records).

Modules: soak_proto (the client/server wire protocol and PROXY headers),
soak_shapes (what each kind of client does), soak_conn (one client
connection), soak_client (a client worker process), soak_load (running
the workers; probe connections), soak_server (a backend server process),
soak_servers (their processes), soak_config (topology and configuration
files), soak_daemon (the daemon, its stats socket, /proc), soak_faults
(the fault injector), soak_checks (the verdict on the connections).
"""
import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from soak_checks import Checker, check_stats, parse_conn_lines  # noqa: E402
from soak_config import ConfigState, Topology, all_broken_variants  # noqa: E402
from soak_daemon import Daemon, settle  # noqa: E402
from soak_faults import Injector  # noqa: E402
from soak_load import Load, probe  # noqa: E402
from soak_servers import ServerProc  # noqa: E402

# A connection that moves no byte for this long is a hang (a finding).
STALL_S = 90
# Bounds on what the daemon may keep after the load, over its warmed-up
# baseline. Descriptors: none (listeners never change; pools give their
# pipes back after a second; FD_SLACK is for a health check's connect
# that may be in flight).
FD_SLACK = 2
# RSS. The daemon keeps freed sessions, rings and pipes in pools trimmed
# after a second, and its plain build stays within a few hundred kB of
# its baseline through a soak (measured: 3.6 MB -> 3.8 MB over 90 s, 14k
# connections, 27 reloads). RSS_SLACK_KB leaves room for the allocator's
# fragmentation at a different peak; a leak of a few hundred bytes per
# connection (tens of thousands of them) is beyond it.
RSS_SLACK_KB = 4 * 1024
# Under ASan, two things that are not the daemon's grow RSS until they
# are full: the quarantine of freed memory (quarantine_size_mb=8 in
# soak_daemon.ASAN_OPTIONS, which costs more than 8 MB with redzones),
# and ASan's retention for each ended thread (a reload runs on a helper
# thread; measured ~40 kB each, flat after ~100). The daemon's pools free
# rarely, so under load alone the quarantine would take the whole soak
# to fill; what fills both is reloads, which free a parsed configuration
# each (measured: ~100 kB of RSS per reload for the first ~150, flat after
# ~250). So the warm-up ends with WARM_RELOADS reloads of the unchanged
# file, and the baseline after it includes both, as it includes the
# daemon's pools. What is left is the quarantine's turnover and the
# allocator's caches at a different peak: RSS_SLACK_ASAN_KB.
WARM_RELOADS = 300
RSS_SLACK_ASAN_KB = 8 * 1024


def log(args, msg):
    if args.verbose:
        print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--netpolld", required=True)
    ap.add_argument("--netpollctl", required=True)
    ap.add_argument("--seconds", type=float, default=300, help="length of the faulted phase")
    ap.add_argument("--connections", type=int, default=400,
                    help="client connections kept open at once (over all workers)")
    ap.add_argument("--workers", type=int, default=2, help="client processes")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--splice", choices=("on", "off"), default="on")
    ap.add_argument("--bulk-scale", type=float, default=1.0,
                    help="scales bulk transfer sizes (largest 8 MiB at 1.0)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory on success")
    ap.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    return args


class Soak:
    def __init__(self, args):
        self.args = args
        self.failures = []          # (what, detail)
        self.rng = random.Random(args.seed)
        self.workdir = tempfile.mkdtemp(prefix="netpolld-soak-")
        self.topo = Topology(self.rng)
        self.state = ConfigState(self.topo, os.path.join(self.workdir, "stats.sock"),
                                 splice=args.splice == "on")
        self.config_path = os.path.join(self.workdir, "netpolld.conf")
        self.daemon = Daemon(os.path.abspath(args.netpolld), os.path.abspath(args.netpollctl),
                             self.config_path, os.path.join(self.workdir, "netpolld.log"),
                             self.state.stats_socket)
        self.servers = {s.name: ServerProc(s, self.workdir) for s in self.topo.servers}
        self.load = Load(self.workdir, self.topo.targets(), self.rng, args.connections,
                         args.workers, STALL_S, args.bulk_scale)
        self.records = []           # every client connection's record
        self.reports = []           # what the faulted phase's workers achieved
        self.injector = None
        self.verdict = None
        self.fd_start = self.fd_end = self.rss_start = self.rss_end = "-"

    def fail(self, what, detail=""):
        self.failures.append((what, detail))

    def log(self, msg):
        log(self.args, msg)

    # ---- set-up --------------------------------------------------------------

    def check_config_files(self):
        """The soak's valid file passes `netpolld -t`; each broken one fails."""
        with open(self.config_path, "w") as f:
            f.write(self.state.render())
        ok, out = self.daemon.check_config(self.config_path)
        if not ok:
            raise AssertionError(f"the soak's configuration is refused: {out}")
        probe_path = os.path.join(self.workdir, "broken.conf")
        for text in all_broken_variants(self.state):
            with open(probe_path, "w") as f:
                f.write(text)
            ok, out = self.daemon.check_config(probe_path)
            if ok:
                raise AssertionError(f"a broken configuration passes netpolld -t:\n{text}")
        os.unlink(probe_path)

    def start(self):
        self.check_config_files()
        for sp in self.servers.values():
            sp.start()
        self.daemon.start()
        self.log(f"daemon pid {self.daemon.pid}, work directory {self.workdir}")

    # ---- phases ----------------------------------------------------------------

    def run(self):
        self.warm_up()
        self.faulted_load()
        self.check_daemon()
        self.stop_daemon()
        self.judge()

    def warm_up(self):
        """A burst of the same load, and reloads, so the baseline includes
        the daemon's pools (and, under ASan, the allocator's retention:
        see WARM_RELOADS)."""
        a = self.args
        warm = min(10.0, max(3.0, a.seconds / 10))
        self.log(f"warm-up: {warm:.0f}s at {a.connections} connections")
        self.add_load(*self.load.run(warm))
        self.reload_burst(WARM_RELOADS)
        self.quiesce("after the warm-up")
        self.fd_start, _ = self.settled_fds()
        self.rss_start = self.daemon.rss_kb()
        self.log(f"baseline: {self.fd_start} fds, {self.rss_start} kB RSS")

    def faulted_load(self):
        a = self.args
        self.injector = Injector(self.daemon, self.state, self.servers, self.rng,
                                 self.topo.targets())
        self.injector.start()
        self.log(f"load and faults: {a.seconds:.0f}s")
        t0 = time.monotonic()
        records, self.reports = self.load.run(a.seconds, on_deadline=self.injector.finish)
        self.add_load(records, self.reports)
        inj = self.injector
        for what in inj.errors:
            lines = what.splitlines()
            self.fail("fault injection: " + lines[0], "\n".join(lines[1:]))
        self.records += inj.probes
        self.log(f"clients done after {time.monotonic() - t0:.0f}s; {dict(inj.counts)}")
        if inj.samples:
            step = max(1, len(inj.samples) // 12)
            self.log("during the soak (s, fds, RSS kB): " + " ".join(
                f"{t - inj.samples[0][0]:.0f},{n},{r}" for t, n, r in inj.samples[::step]))

    def add_load(self, records, reports):
        self.records += records
        self.failures += self.load.failures
        self.load.failures = []
        del reports

    def check_daemon(self):
        """After the load: it answers; it holds no more descriptors, memory
        or sockets than at the baseline."""
        for kind, targets in self.topo.targets().items():
            for t in targets:
                rec = probe(t, kind == "proxy", (15 << 40) | (len(self.records) + 1),
                            "after the soak")
                self.records.append(rec)
                if rec["outcome"] != "ok":
                    self.fail(f"the daemon does not answer on {t} after the soak",
                              f"{rec['outcome']}: {rec['detail']}")
        self.quiesce("after the soak")
        self.fd_end, fd_ok = self.settled_fds(limit=self.fd_start + FD_SLACK, timeout=60)
        self.rss_end = self.daemon.rss_kb()
        if not fd_ok:
            self.fail(f"descriptors: {self.fd_end} held after the soak, {self.fd_start} at the "
                      f"start (bound +{FD_SLACK})",
                      "\n".join(f"{fd} -> {t}" for fd, t in sorted(self.daemon.fds().items())))
        bound = RSS_SLACK_ASAN_KB if self.daemon.sanitized else RSS_SLACK_KB
        if self.rss_end > self.rss_start + bound:
            self.fail(f"RSS grew from {self.rss_start} kB to {self.rss_end} kB "
                      f"(bound +{bound} kB{', ASan' if self.daemon.sanitized else ''})")
        close_wait = [s for s in self.daemon.tcp_sockets() if s[2] == "08"]
        if close_wait:
            self.fail(f"{len(close_wait)} sockets in CLOSE-WAIT held by the daemon",
                      "\n".join(f"{lo} {re}" for lo, re, _ in close_wait[:10]))
        self.info = self.daemon.info()
        self.rows = self.daemon.stat_rows()
        if self.info.get("log_dropped") != "0":
            self.fail(f"the daemon dropped {self.info.get('log_dropped')} log lines")

    def stop_daemon(self):
        rc = self.daemon.stop(timeout=60)
        if rc != 0:
            self.fail(f"SIGTERM: netpolld exited {rc}, not 0")
        reports = self.daemon.sanitizer_reports()
        if reports:
            self.fail("sanitizer reports in the daemon's log", "\n".join(reports[:20]))

    def judge(self):
        """Every connection against its log line; the stats against both."""
        lines = parse_conn_lines(self.daemon.log_text())
        checker = Checker(self.records, lines, self.injector.kills)
        self.verdict = checker.run()
        check_stats(self.info, self.rows, checker)
        self.failures += self.verdict.failures
        for sp in self.servers.values():
            errs = sp.errors()
            if errs:
                self.fail(f"server {sp.server.name} reported errors", "\n".join(errs[:10]))

    # ---- helpers -------------------------------------------------------------

    def reload_burst(self, n):
        """N reloads of the unchanged file, one after the other."""
        gen = int(self.daemon.info()["generation"])
        for _ in range(n):
            gen += 1
            answer = self.daemon.query("reload")[0].strip()
            if answer != f"ok: generation {gen}":
                raise AssertionError(f"warm-up reload: {answer!r}, expected generation {gen}")

    def quiesce(self, what):
        """Waits until no connection is open and no buffer or pipe is lent."""
        def idle():
            i = self.daemon.info()
            return all(i.get(k) == "0" for k in ("connections_current", "buffers_in_use",
                                                 "pipes_in_use"))
        _, ok = settle(idle, bool, timeout=STALL_S + 60, quiet_s=1.0)
        if not ok:
            info, conns = self.daemon.query("show info", "show conns")
            self.fail(f"connections still open {what}", info + conns[:3000])

    def settled_fds(self, limit=None, timeout=30):
        """The descriptor count once it has stopped moving (pools trimmed):
        the lowest seen over a quiet stretch. With LIMIT, waits for it to
        be at most LIMIT."""
        want = (lambda v: True) if limit is None else (lambda v: v <= limit)
        low = [1 << 30]

        def sample():
            n = self.daemon.fd_count()
            low[0] = min(low[0], n)
            return n
        value, ok = settle(sample, want, timeout=timeout, quiet_s=3.0)
        return (min(low[0], value) if limit is None else value), ok

    def save_faults(self):
        inj = self.injector
        if inj is None:
            return
        with open(os.path.join(self.workdir, "faults.json"), "w") as f:
            json.dump({"kills": inj.kills, "events": inj.events, "counts": inj.counts,
                       "samples": inj.samples, "probes": inj.probes}, f, indent=1)

    def summary_line(self):
        a, inj, v = self.args, self.injector, self.verdict
        c = inj.counts if inj else {}
        faults = sum(c.get(k, 0) for k in ("backend_kills", "freezes", "drains", "disables",
                                           "limits"))
        conc_avg = sum(r.get("conc_avg", 0) for r in self.reports)
        conc_max = max(inj.conc) if inj and inj.conc else 0
        return " ".join([
            f"soak: {a.seconds:.0f}s",
            f"connections={v.connections if v else len(self.records)}",
            f"bytes={v.bytes if v else 0}",
            f"reloads={c.get('reloads', 0)} (invalid={c.get('invalid', 0)})",
            f"faults={faults} (backend_kills={c.get('backend_kills', 0)} "
            f"freezes={c.get('freezes', 0)} drains={c.get('drains', 0)} "
            f"disables={c.get('disables', 0)} limits={c.get('limits', 0)})",
            f"cut={v.cut if v else 0} explained={v.explained if v else 0}",
            f"bytes_lost={v.bytes_lost if v else 0}",
            f"fd_start={self.fd_start} fd_end={self.fd_end}",
            f"rss_start_kb={self.rss_start} rss_end_kb={self.rss_end}",
            f"conc_avg={conc_avg:.0f} conc_max={conc_max}",
            f"result={'ok' if not self.failures else 'FAIL'}",
        ])

    def cleanup(self):
        if self.injector is not None and self.injector.is_alive():
            self.injector.stopping.set()
            self.injector.join(60)
        for sp in self.servers.values():
            sp.stop()
        if self.daemon.alive():
            self.daemon.stop(timeout=30)
        try:
            self.save_faults()
        except (OSError, TypeError, ValueError) as e:
            self.fail("cannot save the fault timeline", repr(e))


def main():
    args = parse_args()
    soak = Soak(args)
    started = time.monotonic()
    try:
        soak.start()
        soak.run()
    except Exception as e:
        import traceback
        soak.fail(f"the soak itself failed: {e!r}", traceback.format_exc())
    finally:
        soak.cleanup()
    for what, detail in soak.failures[:30]:
        print(f"FAILED: {what}")
        if detail:
            print("    " + detail.replace("\n", "\n    "))
    if len(soak.failures) > 30:
        print(f"FAILED: ... and {len(soak.failures) - 30} more")
    if soak.failures:
        print(f"soak: seed {args.seed}; daemon log {soak.daemon.log_path}; "
              f"kept {soak.workdir}")
    elif args.keep:
        print(f"soak: kept {soak.workdir}", file=sys.stderr)
    else:
        shutil.rmtree(soak.workdir, ignore_errors=True)
    log(args, f"{time.monotonic() - started:.0f}s end to end")
    print(soak.summary_line(), flush=True)
    sys.exit(0 if not soak.failures else 1)


if __name__ == "__main__":
    main()
