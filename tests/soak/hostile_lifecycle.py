"""The phases around the hostile ones:

  baseline  nothing hostile: the latency to compare with
  end       everything closed: connections_current 0, fds back to where
            they started (a leaked session or descriptor shows here)
  stop      SIGTERM with hostile clients attached (idle proxied
            connections, stuck stats clients, silent metrics clients,
            half a PROXY header): exit 0 after shutdown_timeout, the
            proxied ones logged end=shutdown, no sanitizer report"""
import collections
import signal
import subprocess
import time

from hostile_config import SHUTDOWN_TIMEOUT_S
from hostile_daemon import fd_count, rss_kib, sanitizer_marks
from hostile_net import open_many, settle, unix_nonblocking
from hostile_phase import Phase
from hostile_util import TIMEOUT, fmt, now, poll_until

FD_SLACK = 10               # the pipes the splice pool keeps for good (RUNTIME_PIPE_FLOOR 4)


def baseline(run):
    p = Phase(run, "baseline")
    time.sleep(run.hold(3))
    info = run.info()
    p.field("connections_current", info["connections_current"])
    p.finish()


def end(run):
    p = Phase(run, "end")
    samples = run.good.stop()
    run.good = None

    def quiet():
        info = run.info()
        return info["connections_current"] == "0" and info
    info = poll_until(quiet, TIMEOUT * 3, 0.2)
    p.check(info, "connections_current did not go back to 0")
    if info:
        for key in ("buffers_in_use", "pipes_in_use", "log_dropped", "connections_total"):
            p.field(key, info[key])
    back = poll_until(lambda: fd_count(run.d.pid) <= run.fd_start + FD_SLACK, TIMEOUT, 0.2)
    fds = fd_count(run.d.pid)
    p.field("fds", f"{run.fd_start}->{fds}")
    p.check(back, f"the daemon holds {fds} fds, {run.fd_start} at the start")
    p.field("rss_kib", f"{run.rss_start}->{rss_kib(run.d.pid)}")
    p.finish(samples)


def _attach(run):
    """The clients attached at the stop: {kind: sockets}, and how many
    of the idle ones were established."""
    idle = open_many(run.ports["idle"], 50)
    est, _, _ = settle(idle, timeout=TIMEOUT, quiet=3.0)
    half = open_many(run.ports["loris_proxy"], 5)
    settle(half, timeout=TIMEOUT, quiet=3.0)
    for s in half:
        s.send(b"PROXY TCP4 192.0.2.")
    mute = open_many(run.mport, 8)
    stuck = []
    for _ in range(4):
        s = unix_nonblocking(run.sock)
        try:
            s.send(b"show conns\nshow stat json\n" * 200)
        except OSError:
            pass
        stuck.append(s)
    run.wait_current(len(est) + len(half))
    return {"idle": idle, "half": half, "mute": mute, "stuck": stuck}, len(est)


def _sigterm(run, p):
    """SIGTERM, and the exit code; a daemon that does not exit is killed."""
    run.d.proc.send_signal(signal.SIGTERM)
    try:
        return run.d.proc.wait(SHUTDOWN_TIMEOUT_S + TIMEOUT * 3)
    except subprocess.TimeoutExpired:
        run.d.proc.kill()
        rc = run.d.proc.wait()
        p.check(False, "netpolld did not exit on SIGTERM")
        return rc


def stop(run):
    """SIGTERM with hostile clients still attached: idle proxied
    connections, stats clients with answers stuck, silent metrics
    clients, a PROXY header half sent. A graceful stop waits up to
    shutdown_timeout for the proxied ones, then exits 0."""
    p = Phase(run, "stop")
    attached, nest = _attach(run)
    t = now()
    rc = _sigterm(run, p)
    p.field("exit_s", now() - t)
    run.d.log_file.close()
    for socks in attached.values():
        for s in socks:
            s.close()
    run.d.read_log()
    p.check(rc == 0, f"netpolld exited {rc} on SIGTERM")
    ended = [ln.get("end") for ln in run.d.conn_lines("idle")[-nest:]]
    p.check(ended == ["shutdown"] * nest,
            f"attached connections ended {collections.Counter(ended)}, not shutdown")
    marks = sanitizer_marks(run.d.log())
    p.check(not marks, f"sanitizer reports: {marks}")
    warns = [ln for ln in run.d.other if " warn " in ln or " error " in ln]
    counts = "+".join(str(n) for n in (nest, *(len(attached[k]) for k in ("half", "mute", "stuck"))))
    p.emit(f"hostile: stop attached={counts} "
           f"exit={rc} exit_s={fmt(now() - t)} sanitizer_reports={len(marks)} "
           f"warn_lines={len(warns)} total_wall_s={fmt(now() - run.t_start)}")
    for ln in warns[:10]:
        print(f"hostile:   {ln}", flush=True)
