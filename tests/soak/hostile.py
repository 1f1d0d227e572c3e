#!/usr/bin/env python3
"""Hostile clients against a real netpolld, bounded in time and size.

    /usr/bin/python3 tests/soak/hostile.py --netpolld build-asan/netpolld \\
        --netpollctl build-asan/netpollctl [--seconds 90] [--size 1.0]

One daemon (ASAN_OPTIONS/UBSAN_OPTIONS set so that a sanitizer report
aborts it) with a stats socket, a metrics endpoint and one listener per
kind of abuse, all in front of an echo backend of our own
(hostile_peers.py echo, a process of its own). Throughout, a well-behaved
client (hostile_peers.py good, also a process of its own) does echo round
trips on the "good" listener: short connections and one persistent
ping-pong. Its failures fail the run; its latency is reported, never
judged. The phases, in order, each described where it lives:

  baseline       nothing hostile: the latency to compare with  (hostile_lifecycle.py)
  flood          connects past a listener's max_connections   (hostile_flood.py)
  global_limit   connects past global.max_connections         (hostile_flood.py)
  slowloris      one byte, then nothing; readers that never read  (hostile_loris.py)
  drip           PROXY headers dripped at one byte a second    (hostile_drip.py)
  control        stats and metrics clients that never read     (hostile_control.py)
  end            everything closed: connections and fds back   (hostile_lifecycle.py)
  stop           SIGTERM with hostile clients attached         (hostile_lifecycle.py)

The rest: hostile_run.py (what the phases share), hostile_phase.py (a
phase's checks and summary line), hostile_config.py (the daemon's limits
and configuration), hostile_daemon.py (the daemon process, its log,
/proc), hostile_good.py (the peers' processes), hostile_net.py (client
sockets), hostile_util.py (small tools).

Every wait has a deadline; nothing asserts that something happened
quickly, only that it happened, did not happen early, or stayed within a
bound. One summary line per phase; exit 0 only if every check passed."""
import argparse
import os
import resource
import shutil
import signal
import sys
import traceback

from hostile_control import control
from hostile_daemon import sanitizer_marks
from hostile_drip import drip
from hostile_flood import flood, global_limit
from hostile_lifecycle import baseline, end, stop
from hostile_loris import slowloris
from hostile_run import Run

# The phases that may stop early: once the daemon is dead, none follows.
HOSTILE_PHASES = (baseline, flood, global_limit, slowloris, drip, control)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--netpolld", required=True)
    ap.add_argument("--netpollctl", required=True)
    ap.add_argument("--seconds", type=float, default=90,
                    help="scales the hold times; the default run takes about this long")
    ap.add_argument("--size", type=float, default=1.0,
                    help="scales the client counts (each phase stays under 7000 sockets)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    return ap.parse_args()


def raise_nofile(args):
    """The open-file limit up to its hard limit; --size scaled down to
    what that allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < 16000:
        print(f"hostile: the open-file hard limit is {hard}; --size scaled down", flush=True)
        args.size = min(args.size, hard / 16000)


def arm_budget(run, seconds):
    """The last resort behind every bounded wait: SIGALRM kills it all."""
    budget = int(seconds * 4 + 300)

    def overdue(signum, frame):
        print(f"hostile: FAIL: the run took more than {budget}s; work dir {run.workdir}", flush=True)
        run.kill_all()
        os._exit(1)
    signal.signal(signal.SIGALRM, overdue)
    signal.alarm(budget)


def run_phases(run):
    """Every phase in turn; whether all of them ran and passed."""
    run.start()
    for phase in HOSTILE_PHASES:
        phase(run)
        if not run.d.alive():
            break
    if run.d.alive():
        end(run)
        stop(run)
    return bool(run.phases) and run.phases[-1].name == "stop" and \
        all(not p.failures for p in run.phases)


def tear_down(run):
    """Kills whatever is left; whether the daemon died with an error."""
    died = run.d is not None and run.d.proc.poll() not in (None, 0)
    if run.d is not None and run.d.alive():
        run.d.proc.kill()
        run.d.proc.wait()
    run.stop_peers()
    run.kill_all()
    return died


def keep_workdir(run, died):
    """The work directory kept, and the log's telling part on stderr:
    around the first sanitizer report, else its tail if it died."""
    log = run.d.log()
    marks = sanitizer_marks(log)
    if marks:
        i = min(log.find(m) for m in marks)
        print(log[max(0, i - 2000):i + 6000], file=sys.stderr)
    elif died:
        print("\n".join(log.splitlines()[-30:]), file=sys.stderr)
    print(f"hostile: work dir kept: {run.workdir}", flush=True)


def main():
    args = parse_args()
    raise_nofile(args)
    run = Run(args)
    arm_budget(run, args.seconds)
    ok = False
    try:
        ok = run_phases(run)
    except Exception as e:
        print(f"hostile: FAIL: {type(e).__name__}: {e}", flush=True)
        traceback.print_exc()
    finally:
        signal.alarm(0)
        died = tear_down(run)
    if run.d is not None and (not ok or args.keep):
        keep_workdir(run, died)
    else:
        shutil.rmtree(run.workdir, ignore_errors=True)
    print(f"hostile: {'PASS' if ok else 'FAIL'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
