#!/usr/bin/python3
"""netpolld against HAProxy (with and without splice) and nginx's stream
module, and against no proxy at all, on the same loopback workloads.

    bench.py --binary build/netpolld [--rounds 3] [--only redis,idle]
             [--proxies haproxy,netpolld] [--duration 4] [--json PATH]

Each proxy runs single-threaded on CPU 0; load generators and backend
servers run on CPU 1 (no pinning on a one-CPU machine). A round runs every
workload once through every proxy, proxies interleaved within a workload,
each on a freshly started proxy; the table shows the medians over rounds.
Progress goes to stderr, the table to stdout, everything (raw values of
every round, medians, ratios, machine and versions) to the JSON file.

A tool, not a test: it exits 0 whenever it ran, whatever the figures, and
non-zero only if it measured nothing at all.
"""
import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time

from peers import PROXIES, Backends, ensure_packages, log, start_proxy, versions
from procs import Launcher, RunError, StartError, pinning_possible
from report import medians, ratios, table
from workloads import BY_NAME, Context, summary

LABELS = {
    "iperf3-up": "iperf3 up",
    "iperf3-down": "iperf3 down",
    "redis": "redis-benchmark",
    "pingpong": "ping-pong 64 B",
    "shortconn": "short connections",
    "idle": "8000 idle connections",
}
ALIASES = {"iperf3": ["iperf3-up", "iperf3-down"], "haproxy-splice": ["haproxy+splice"]}


def _names(text, known, what):
    names = []
    for item in filter(None, (x.strip() for x in text.split(","))):
        for name in ALIASES.get(item, [item]):
            if name not in known:
                raise argparse.ArgumentTypeError(
                    f"unknown {what} {name!r}; choose from {', '.join(known)}")
            if name not in names:
                names.append(name)
    # Table order, whatever order they were given in.
    return [k for k in known if k in names]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--binary", default="build/netpolld", help="the netpolld to run")
    p.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    p.add_argument("--only", default=",".join(BY_NAME),
                   type=lambda s: _names(s, list(BY_NAME), "workload"),
                   help="workloads, comma-separated: " + ", ".join(BY_NAME))
    p.add_argument("--proxies", default=",".join(PROXIES),
                   type=lambda s: _names(s, PROXIES, "proxy"),
                   help="columns, comma-separated: " + ", ".join(PROXIES))
    p.add_argument("--duration", type=int, default=4,
                   help="seconds per timed load (default 4)")
    p.add_argument("--json", default="build/bench/results.json",
                   help="where to write every figure (default build/bench/results.json)")
    p.add_argument("--no-install", action="store_true",
                   help="do not apt-get install missing peers")
    p.add_argument("--keep-tmp", action="store_true",
                   help="keep the temp dir (configs, logs) for a look afterwards")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.duration < 1:
        p.error("--rounds and --duration must be at least 1")
    return args


def machine_info(pinned):
    info = {
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "pinning": ("proxy on CPU 0, load and backends on CPU 1" if pinned
                    else "none (fewer than two CPUs)"),
    }
    try:
        with open("/proc/cpuinfo") as f:
            models = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")]
        info["cpu"] = models[0] if models else "unknown"
        with open("/etc/os-release") as f:
            rel = dict(l.rstrip("\n").split("=", 1) for l in f if "=" in l)
        info["os"] = rel.get("PRETTY_NAME", "").strip('"')
    except OSError:
        pass
    return info


def binary_info(path):
    """Which netpolld was measured: it may be rebuilt between runs."""
    try:
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        mtime = time.strftime("%Y-%m-%dT%H:%M:%S%z",
                              time.localtime(os.path.getmtime(path)))
    except OSError as e:
        return {"path": path, "error": str(e)}
    return {"path": os.path.abspath(path), "sha256": digest, "mtime": mtime}


def run_cell(ctx, backends, workload, proxy, binary):
    """One workload through one proxy (started for it, stopped after).
    Returns its figures, or {"error": why}."""
    child = None
    try:
        port = backends.port(workload.backend)
        if proxy != "direct":
            child, port = start_proxy(proxy, ctx.launcher, port, binary)
        result = workload.run(ctx, port, child.pid if child else None)
        if child and not child.alive():
            raise RunError(f"{proxy} exited during the run: {child.log_tail(2)}")
        return result
    except (StartError, RunError, OSError, ValueError, KeyError) as e:
        # A failed iperf3 test can leave its server waiting on a dead
        # control connection: start a fresh one for the next cell.
        if workload.backend == "iperf3":
            backends.restart("iperf3")
        return {"error": f"{e.__class__.__name__}: {e}"}
    finally:
        if child:
            ctx.launcher.stop(child, grace=10)


def run_rounds(args, ctx, rounds):
    """Fills ROUNDS (a list, so that an interrupt keeps what was done)."""
    backends = Backends(ctx.launcher)
    binary = os.path.abspath(args.binary)
    for i in range(args.rounds):
        results = {}
        rounds.append({"round": i + 1, "results": results})
        for workload in (BY_NAME[n] for n in args.only):
            for proxy in args.proxies:
                if workload.proxied_only and proxy == "direct":
                    continue
                t0 = time.monotonic()
                r = run_cell(ctx, backends, workload, proxy, binary)
                r["seconds"] = round(time.monotonic() - t0, 2)
                results.setdefault(workload.name, {})[proxy] = r
                via = "direct" if proxy == "direct" else f"via {proxy}"
                said = r["error"] if "error" in r else summary(workload.name, r)
                log(f"round {i + 1}/{args.rounds}: {LABELS[workload.name]} {via}"
                    f" ... {said}")


def report_errors(rounds):
    """Every failed cell again, after the table, so none goes unseen."""
    for rd in rounds:
        for workload, cells in rd["results"].items():
            for proxy, r in cells.items():
                if "error" in r:
                    log(f"bench: error: round {rd['round']} {workload} via {proxy}: "
                        f"{r['error']}")


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def write_json(path, doc):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)


def main(argv=None):
    args = parse_args(argv)
    started = time.monotonic()
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    if "netpolld" in args.proxies and not os.access(args.binary, os.X_OK):
        log(f"bench: {args.binary} is not an executable; the netpolld column will be err")
    if not args.no_install:
        ensure_packages()
    # Before the rounds: the binary may be rebuilt while they run.
    measured_binary = binary_info(args.binary)
    peer_versions = versions(args.binary)
    pinned = pinning_possible()
    if pinned:
        # The bench's own bookkeeping stays off the proxy's CPU.
        os.sched_setaffinity(0, {1})
    tmpdir = tempfile.mkdtemp(prefix="netpolld-bench-", dir="/tmp")
    launcher = Launcher(tmpdir, pinned)
    ctx = Context(launcher, args.duration, redis_requests=20000 * args.duration)
    rounds, interrupted = [], False
    try:
        run_rounds(args, ctx, rounds)
    except KeyboardInterrupt:
        interrupted = True
        log("bench: interrupted; reporting what was measured")
    finally:
        # A second Ctrl-C must not cut the cleanup short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        launcher.cleanup()
        if args.keep_tmp:
            log(f"bench: temp dir kept: {tmpdir}")
        else:
            shutil.rmtree(tmpdir, ignore_errors=True)

    meds = medians(rounds, args.proxies)
    rats = ratios(meds)
    print(table(rounds, args.proxies, meds, rats), flush=True)
    report_errors(rounds)
    wall = time.monotonic() - started
    write_json(args.json, {
        "machine": machine_info(pinned),
        "versions": peer_versions,
        "netpolld_binary": measured_binary,
        "settings": {"rounds": args.rounds, "duration_s": args.duration,
                     "workloads": args.only, "proxies": args.proxies,
                     "redis_requests_per_test": ctx.redis_requests,
                     "idle_connections": ctx.idle_conns,
                     "idle_settle_s": ctx.settle,
                     "pingpong_latency": "half round trip (sockperf default)"},
        "rounds": rounds,
        "medians": meds,
        "ratios": rats,
        "interrupted": interrupted,
        "wall_seconds": round(wall, 1),
    })
    log(f"bench: {wall:.0f} s; results in {args.json}")
    measured = any("error" not in r for rd in rounds
                   for cells in rd["results"].values() for r in cells.values())
    if interrupted:
        return 130
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main())
