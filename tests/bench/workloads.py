"""The six workloads. Each runs its load generator on the load CPU against
PORT (the proxy's, or the backend's itself for the "direct" column) and
returns a dict of figures; with a proxy PID, the proxy's CPU time (utime +
stime from /proc, sampled just before and just after the load) is turned
into a cost per byte, request or connection.
"""
import csv
import json
import os
import re
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass

from procs import RunError, cpu_seconds, rss_kib

IDLE_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "idle_clients.py")


@dataclass
class Context:
    launcher: object
    duration: int          # seconds per timed load
    redis_requests: int    # -n of redis-benchmark, per test (GET, SET)
    idle_conns: int = 8000
    settle: float = 3.0    # netpolld gives spare buffers back within 2 s


def _measure(pid, fn):
    """(FN(), CPU seconds the proxy PID spent meanwhile, or None)."""
    before = cpu_seconds(pid) if pid else None
    result = fn()
    return result, (cpu_seconds(pid) - before if pid else None)


def _per(cpu, scale, count):
    return None if cpu is None or not count else cpu * scale / count


# ---- 1. iperf3 ------------------------------------------------------------

def iperf3(ctx, port, pid, reverse):
    argv = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(ctx.duration),
            "-J", "--connect-timeout", "5000"] + (["-R"] if reverse else [])
    out, cpu = _measure(pid, lambda: ctx.launcher.run(
        "iperf3-client", argv, timeout=ctx.duration + 30, check=False))
    try:
        report = json.loads(out)
    except ValueError:
        raise RunError(f"iperf3 printed no JSON: {out.strip()[-200:]}")
    if "error" in report:
        raise RunError(f"iperf3: {report['error']}")
    received = report["end"]["sum_received"]
    nbytes = received["bytes"]
    return {
        "gbps": received["bits_per_second"] / 1e9,
        "bytes": nbytes,
        "cpu_s": cpu,
        # GB = 1e9 bytes moved, counted by the receiving side.
        "cpu_ms_per_gb": _per(cpu, 1e3, nbytes / 1e9),
    }


def iperf3_up(ctx, port, pid):
    return iperf3(ctx, port, pid, reverse=False)


def iperf3_down(ctx, port, pid):
    return iperf3(ctx, port, pid, reverse=True)


# ---- 2. redis-benchmark ---------------------------------------------------

def _parse_redis_csv(out):
    rps = {}
    for row in csv.reader(out.splitlines()):
        if len(row) >= 2 and row[0] in ("GET", "SET"):
            rps[row[0]] = float(row[1])
    if set(rps) != {"GET", "SET"}:
        raise RunError(f"redis-benchmark: no GET and SET rows in {out.strip()[-200:]!r}")
    return rps


def redis(ctx, port, pid):
    n = ctx.redis_requests
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", "50",
            "-n", str(n), "-t", "get,set", "--csv"]
    out, cpu = _measure(pid, lambda: ctx.launcher.run(
        "redis-benchmark", argv, timeout=120))
    rps = _parse_redis_csv(out)
    requests = 2 * n
    return {
        "rps": (rps["GET"] + rps["SET"]) / 2,
        "rps_get": rps["GET"],
        "rps_set": rps["SET"],
        "requests": requests,
        "cpu_s": cpu,
        "cpu_us_per_req": _per(cpu, 1e6, requests),
    }


# ---- 3. sockperf ping-pong --------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _sockperf_value(text, pattern):
    m = re.search(pattern, text)
    if not m:
        raise RunError(f"sockperf: no match for {pattern!r} in output")
    return float(m.group(1))


def pingpong(ctx, port, pid):
    # Debian 12's sockperf 3.7 reports one-way latency, i.e. half the
    # round trip (its --full-rtt would report the round trip); we keep the
    # default, for every column alike. Lines look like
    #   sockperf: ---> percentile 50.000 =    3.160
    argv = ["sockperf", "ping-pong", "--tcp", "-i", "127.0.0.1", "-p", str(port),
            "-m", "64", "-t", str(ctx.duration)]
    out, cpu = _measure(pid, lambda: ctx.launcher.run(
        "sockperf-client", argv, timeout=ctx.duration + 30))
    text = _ANSI.sub("", out)
    messages = _sockperf_value(text, r"\[Valid Duration\].*?ReceivedMessages=(\d+)")
    return {
        "p50_us": _sockperf_value(text, r"percentile 50\.000 =\s*([\d.]+)"),
        "p99_us": _sockperf_value(text, r"percentile 99\.000 =\s*([\d.]+)"),
        "avg_us": _sockperf_value(text, r"avg-latency=([\d.]+)"),
        "messages": int(messages),
        "cpu_s": cpu,
        "latency": "half round trip (sockperf default)",
    }


# ---- 4. short connections (wrk, Connection: close) --------------------------

def _wrk_int(text, pattern, default=None):
    m = re.search(pattern, text)
    if not m:
        if default is None:
            raise RunError(f"wrk: no match for {pattern!r} in {text.strip()[-200:]!r}")
        return default
    return int(m.group(1))


def shortconn(ctx, port, pid):
    argv = ["wrk", "-t1", "-c50", f"-d{ctx.duration}s", "-H", "Connection: close",
            f"http://127.0.0.1:{port}/"]
    out, cpu = _measure(pid, lambda: ctx.launcher.run(
        "wrk", argv, timeout=ctx.duration + 30))
    requests = _wrk_int(out, r"(\d+) requests in")
    m = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if not m or not requests:
        raise RunError(f"wrk: no requests in {out.strip()[-200:]!r}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                       r"timeout (\d+)", out)
    return {
        "rps": float(m.group(1)),
        "requests": requests,
        "socket_errors": [int(x) for x in errors.groups()] if errors else [0, 0, 0, 0],
        "non_2xx": _wrk_int(out, r"Non-2xx or 3xx responses: (\d+)", default=0),
        "cpu_s": cpu,
        # Each request is its own connection (Connection: close).
        "cpu_us_per_conn": _per(cpu, 1e6, requests),
    }


# ---- 5 + 6. idle connections: RSS, then redis-benchmark beside them -------

def _read_line(child, timeout):
    sel = selectors.DefaultSelector()
    sel.register(child.popen.stdout, selectors.EVENT_READ)
    try:
        if not sel.select(timeout):
            raise RunError(f"idle clients: no answer after {timeout:.0f}s")
    finally:
        sel.close()
    return child.popen.stdout.readline().decode(errors="replace").strip()


def _release(ctx, holder):
    """Tells the holder to close its sockets; waits a bounded time."""
    try:
        holder.popen.stdin.write(b"close\n")
        holder.popen.stdin.flush()
        holder.popen.wait(timeout=30)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        pass  # stop() below kills it
    ctx.launcher.stop(holder, grace=2)


def idle(ctx, port, pid):
    n = ctx.idle_conns
    rss_before = rss_kib(pid)
    holder = ctx.launcher.spawn("idle-clients", "load",
                                [sys.executable, IDLE_SCRIPT, str(port), str(n)],
                                pipes=True)
    try:
        line = _read_line(holder, timeout=120)
        fields = line.split()
        if len(fields) != 4 or fields[0] != "ready":
            raise RunError(f"idle clients: {line!r} {holder.log_tail(2)}")
        held, seconds, why = int(fields[1]), float(fields[2]), fields[3]
        if held < n:
            raise RunError(f"idle clients: {held} of {n} connections answered "
                           f"(failed: {why})")
        # The figure is after the burst, once the proxy has settled.
        time.sleep(ctx.settle)
        rss_after = rss_kib(pid)
        busy = redis(ctx, port, pid)
    finally:
        _release(ctx, holder)
    return {
        "connections": n,
        "open_s": seconds,
        "rss_kib_before": rss_before,
        "rss_kib_after": rss_after,
        "rss_kib_per_conn": (rss_after - rss_before) / n,
        "rps": busy["rps"],
        "requests": busy["requests"],
        "cpu_s": busy["cpu_s"],
        "cpu_us_per_req": busy["cpu_us_per_req"],
    }


# ---- the registry -----------------------------------------------------------

@dataclass
class Workload:
    name: str
    backend: str
    run: object
    proxied_only: bool = False   # nothing to measure without a proxy


WORKLOADS = [
    Workload("iperf3-up", "iperf3", iperf3_up),
    Workload("iperf3-down", "iperf3", iperf3_down),
    Workload("redis", "redis", redis),
    Workload("pingpong", "sockperf", pingpong),
    Workload("shortconn", "http", shortconn),
    Workload("idle", "redis", idle, proxied_only=True),
]
BY_NAME = {w.name: w for w in WORKLOADS}


def _cpu(value, fmt):
    return "" if value is None else ", " + fmt.format(value)


def summary(name, r):
    """One progress phrase for result R of workload NAME."""
    if name.startswith("iperf3"):
        return f"{r['gbps']:.1f} Gbit/s" + _cpu(r["cpu_ms_per_gb"], "{:.0f} CPU ms/GB")
    if name == "redis":
        return f"{r['rps']:,.0f} req/s" + _cpu(r["cpu_us_per_req"], "{:.2f} CPU µs/req")
    if name == "pingpong":
        return f"p50 {r['p50_us']:.2f} µs, p99 {r['p99_us']:.2f} µs"
    if name == "shortconn":
        return (f"{r['rps']:,.0f} req/s"
                + _cpu(r["cpu_us_per_conn"], "{:.1f} CPU µs/conn"))
    if name == "idle":
        return (f"{r['rss_kib_per_conn']:.2f} KiB/idle conn, "
                f"{r['cpu_us_per_req']:.2f} CPU µs/req with {r['connections']} idle")
    return str(r)
