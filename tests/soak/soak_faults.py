"""The soak's fault injector: a thread that, every few seconds, does one
of these to the running daemon and its backends:

- reloads the configuration, by SIGHUP or `netpollctl reload`: a valid
  file with a harmless change (soak_config.ConfigState.vary), or a broken
  one that must be refused (last_reload: failed..., the generation kept,
  and a probe connection still served), always followed by a valid one;
- kills a backend server (SIGKILL) and starts it again 1-5 s later;
- freezes one (SIGSTOP) for 1-4 s;
- drains or disables a server with netpollctl, enabling it 2-6 s later;
- sets a listener's max_connections for a few seconds.

It never leaves a backend without a server that can take connections
(another server of the backend alive, enabled and UP in `show stat`),
so no new connection has a reason to fail; the connections a kill cuts
are explained by the kill's window (self.kills). Each turn it also reads
`show conns` and `show stat json`. Whatever the daemon answers wrongly
(a reload's outcome, a command's answer, a malformed view, a probe
connection that fails) is kept in self.errors.
"""
import collections
import json
import os
import random
import threading
import time
import traceback

from soak_config import BROKEN, render_broken
from soak_load import probe

RELOAD_TIMEOUT = 60
CONN_FIELDS = {"conn", "client", "listener", "backend", "server", "state", "age_ms", "bytes_in",
               "bytes_out"}
CONN_STATES = {"PROXY_HEADER", "CONNECTING", "RELAYING", "FLUSHING", "LINGERING"}
ACTIONS = {"reload_sighup": 3, "reload_ctl": 3, "reload_invalid": 3, "kill": 3, "drain": 2,
           "disable": 1, "freeze": 1, "limit": 1}


class Injector(threading.Thread):
    def __init__(self, daemon, state, servers, rng, targets, interval=(1.0, 3.0)):
        super().__init__(daemon=True, name="faults")
        self.d, self.state, self.servers = daemon, state, servers    # servers: name -> ServerProc
        self.rng, self.targets, self.interval = rng, targets, interval
        self.stopping = threading.Event()
        self.counts = collections.Counter()
        self.kills = []             # {"server", "backend", "t_begin", "t_end", "t_restart"}
        self.events = []            # (wall time, text) of everything done
        self.errors = []
        self.probes = []            # records of the probe connections
        self.pending = []           # [due (monotonic), kind, server name]
        self.admin = {name: "READY" for name in servers}
        self.broken = False         # the last reload was a refused one
        self.generation = int(daemon.info()["generation"])
        self.conc = []              # connections_current, sampled each turn
        self.samples = []           # (monotonic, fds, RSS kB), each turn
        self.probe_tag = 0
        self.listeners = {t[0] for ts in targets.values() for t in ts}

    # ---- the loop ----------------------------------------------------------

    def run(self):
        try:
            while not self.stopping.wait(self.rng.uniform(*self.interval)):
                self.turn()
        except Exception:
            self.errors.append("fault injector crashed:\n" + traceback.format_exc())

    def turn(self):
        self.do_due(time.monotonic())
        info = self.d.info()
        self.conc.append(int(info["connections_current"]))
        self.samples.append((time.monotonic(), self.d.fd_count(), self.d.rss_kb()))
        self.check_views()
        if self.broken:
            self.reload_valid(self.rng.choice(("sighup", "ctl")), restoring=True)
            return
        kind = self.rng.choices(list(ACTIONS), weights=list(ACTIONS.values()))[0]
        if kind == "reload_sighup":
            self.reload_valid("sighup")
        elif kind == "reload_ctl":
            self.reload_valid("ctl")
        elif kind == "reload_invalid":
            self.reload_invalid(self.rng.choice(("sighup", "ctl")))
        elif kind == "kill":
            self.kill()
        elif kind == "freeze":
            self.freeze()
        elif kind == "limit":
            self.limit()
        else:
            self.take_out(kind)

    def finish(self):
        """Stops the thread, then undoes what is still pending: every server
        runs and is enabled, and the file in effect is a valid one."""
        self.stopping.set()
        self.join(RELOAD_TIMEOUT * 3)
        if self.is_alive():
            self.errors.append("the fault injector did not stop")
            return
        try:
            self.do_due(float("inf"))
            if self.broken:
                self.reload_valid("ctl", restoring=True)
        except Exception:
            self.errors.append("restoring after the faults failed:\n" + traceback.format_exc())

    def note(self, text):
        self.events.append((time.time(), text))

    def fail(self, text):
        self.errors.append(text)
        self.note("ERROR " + text)

    def check_views(self):
        """show conns and show stat json, hundreds of rows under load, are
        well formed: every connection line has its fields, a known state
        and listener; the JSON parses, with a row per listener."""
        conns, stat_json = self.d.query("show conns", "show stat json")
        for line in conns.splitlines():
            f = dict(p.split("=", 1) for p in line.split() if "=" in p)
            if not CONN_FIELDS <= f.keys() or f["state"] not in CONN_STATES \
                    or f["listener"] not in self.listeners:
                self.fail(f"show conns: a line not as documented: {line!r}")
                break
        try:
            rows = json.loads(stat_json)
            names = {r["name"] for r in rows if r["type"] == "listener"}
        except (ValueError, KeyError, TypeError) as e:
            self.fail(f"show stat json: {e!r}: {stat_json[:300]!r}")
            return
        if names != self.listeners:
            self.fail(f"show stat json: listeners {sorted(names)}, not {sorted(self.listeners)}")

    # ---- reloads -----------------------------------------------------------

    def write_config(self, text):
        tmp = self.d.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.d.config_path)

    def wait_info(self, pred, what):
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while True:
            info = self.d.info()
            if pred(info):
                return info
            if time.monotonic() > deadline:
                self.fail(f"{what}: not seen in {RELOAD_TIMEOUT}s; show info: {info}")
                return info
            time.sleep(0.05)

    def reload_valid(self, via, restoring=False, change=None):
        what = "restore" if restoring else change or self.state.vary(self.rng)
        self.write_config(self.state.render())
        want = self.generation + 1
        if via == "ctl":
            rc, out = self.d.ctl("reload")
            if rc != 0 or out != f"ok: generation {want}":
                self.fail(f"netpollctl reload of a valid file ({what}): exit {rc}, {out!r}")
        else:
            self.d.sighup()
        info = self.wait_info(lambda i: int(i["generation"]) >= want,
                              f"generation {want} after a valid reload ({via}, {what})")
        if info.get("last_reload") != "ok" or int(info["generation"]) != want:
            self.fail(f"after a valid reload ({via}, {what}): generation "
                      f"{info.get('generation')}, last_reload {info.get('last_reload')!r}")
        self.generation = int(info["generation"])
        self.broken = False
        self.counts["reloads"] += 1
        self.counts[f"reloads_{via}"] += 1
        self.note(f"reload {via}: {what} -> generation {self.generation}")

    def reload_invalid(self, via):
        kind = self.rng.choice(list(BROKEN))
        self.write_config(render_broken(self.state, kind, self.rng))
        if via == "ctl":
            rc, out = self.d.ctl("reload")
            if rc == 0 or "error: reload failed" not in out:
                self.fail(f"netpollctl reload of a broken file ({kind}): exit {rc}, {out!r}")
            info = self.d.info()
        else:
            self.d.sighup()
            info = self.wait_info(lambda i: i.get("last_reload", "").startswith("failed"),
                                  f"last_reload: failed after a broken file ({kind}, sighup)")
        if not info.get("last_reload", "").startswith("failed: "):
            self.fail(f"broken file ({kind}, {via}): last_reload {info.get('last_reload')!r}")
        if int(info["generation"]) != self.generation:
            self.fail(f"broken file ({kind}, {via}) changed the generation to "
                      f"{info['generation']}")
        self.broken = True
        self.counts["reloads"] += 1
        self.counts["invalid"] += 1
        self.note(f"reload {via}: broken ({kind}) refused: {info.get('last_reload')}")
        self.probe(f"after a refused reload ({kind})")

    def probe(self, why):
        """One connection through a listener: it must work."""
        self.probe_tag += 1
        rng = random.Random(self.probe_tag)
        kind = rng.choice(("plain", "proxy"))
        rec = probe(rng.choice(self.targets[kind]), kind == "proxy", self.probe_tag, why)
        self.probes.append(rec)
        if rec["outcome"] != "ok":
            self.fail(f"probe connection {why}: {rec['outcome']} {rec['detail']}")

    # ---- servers -------------------------------------------------------------

    def can_spare(self, name):
        """Another server of NAME's backend takes connections now."""
        sp = self.servers[name]
        backend = sp.server.backend
        rows = {(r["parent"], r["name"]): r for r in self.d.stat_rows() if r["type"] == "server"}
        for other, op in self.servers.items():
            if other == name or op.server.backend != backend or op.server.spare:
                continue
            row = rows.get((backend, op.server.address))
            if op.alive and self.admin[other] == "READY" and not self.is_pending(other) \
                    and row is not None and row["status"] == "UP":
                return True
        return False

    def is_pending(self, name):
        return any(p[2] == name for p in self.pending)

    def candidates(self):
        names = [n for n, sp in self.servers.items()
                 if not sp.server.spare and not self.is_pending(n)]
        self.rng.shuffle(names)
        return names

    def kill(self):
        for name in self.candidates():
            if not self.servers[name].alive or not self.can_spare(name):
                continue
            sp = self.servers[name]
            k = {"server": sp.server.address, "backend": sp.server.backend,
                 "t_begin": time.time()}
            sp.kill()
            k["t_end"] = time.time()
            self.kills.append(k)
            self.pending.append([time.monotonic() + self.rng.uniform(1.0, 5.0), "restart", name])
            self.counts["backend_kills"] += 1
            self.note(f"killed {name}")
            return
        self.counts["skipped"] += 1

    def freeze(self):
        """A server that hangs for a while: its connections wait (nothing
        may be cut; the daemon's idle_timeout is far longer)."""
        for name in self.candidates():
            if not self.servers[name].alive:
                continue
            self.servers[name].freeze()
            self.pending.append([time.monotonic() + self.rng.uniform(1.0, 4.0), "thaw", name])
            self.counts["freezes"] += 1
            self.note(f"froze {name}")
            return
        self.counts["skipped"] += 1

    def limit(self):
        """A listener's max_connections, for a few seconds: its clients wait
        in the kernel's backlog (none may be refused or cut), and a reload
        that lifts the limit lets them in."""
        if any(self.state.limits.values()):
            self.counts["skipped"] += 1
            return
        name = self.rng.choice(sorted(self.state.limits))
        self.state.limits[name] = self.rng.randint(20, 60)
        self.reload_valid(self.rng.choice(("sighup", "ctl")),
                          change=f"max_connections {name}={self.state.limits[name]}")
        self.pending.append([time.monotonic() + self.rng.uniform(3.0, 8.0), "unlimit", name])
        self.counts["limits"] += 1

    def take_out(self, how):
        for name in self.candidates():
            if self.admin[name] != "READY" or not self.can_spare(name):
                continue
            rc, out = self.d.ctl(how, name)
            state = "DRAIN" if how == "drain" else "MAINT"
            if rc != 0 or out != f"ok: server {name} is {state}":
                self.fail(f"netpollctl {how} {name}: exit {rc}, {out!r}")
            self.admin[name] = state
            self.pending.append([time.monotonic() + self.rng.uniform(2.0, 6.0), "enable", name])
            self.counts[how + "s"] += 1
            self.note(f"{how} {name}")
            return
        self.counts["skipped"] += 1

    def do_due(self, now):
        for p in sorted(self.pending):
            if p[0] > now:
                continue
            self.pending.remove(p)
            _, kind, name = p
            if kind == "restart":
                sp = self.servers[name]
                sp.start()
                for k in reversed(self.kills):
                    if k["server"] == sp.server.address and k["backend"] == sp.server.backend:
                        k["t_restart"] = time.time()
                        break
                self.note(f"restarted {name}")
            elif kind == "unlimit":
                self.state.limits[name] = 0
                self.reload_valid(self.rng.choice(("sighup", "ctl")),
                                  change=f"max_connections {name}=0")
            elif kind == "thaw":
                self.servers[name].thaw()
                self.note(f"thawed {name}")
            else:
                rc, out = self.d.ctl("enable", name)
                if rc != 0 or not out.startswith(f"ok: server {name} is "):
                    self.fail(f"netpollctl enable {name}: exit {rc}, {out!r}")
                self.admin[name] = "READY"
                self.note(f"enabled {name}")
