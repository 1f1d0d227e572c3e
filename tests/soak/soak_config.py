"""The soak's topology (listeners, backends, servers) and the daemon's
configuration file for it: the valid one in its current variation
(weights, balance, whether each backend's spare server is listed), and
broken ones that a reload must refuse.

Backends: "alpha" (three servers on 127.0.0.1 and a spare, passive
health), "beta" (two on [::1] and a spare on 127.0.0.1, leastconn),
"gamma" (two on 127.0.0.1 with active health checks). Listeners: "v4"
(127.0.0.1) -> alpha, "v6" ([::1]) -> beta, "dual" (both families) ->
beta, "proxied" (both families, accept_proxy) -> gamma.

Only what a reload may change harmlessly varies; listeners never do, so
no address ever closes under the clients.
"""
import dataclasses
import random
import socket

from soak_conn import hostport

BALANCES = ("roundrobin", "leastconn", "random", "source")


@dataclasses.dataclass
class Server:
    backend: str
    host: str
    port: int
    spare: bool = False         # listed only in some generations; never faulted

    @property
    def address(self):
        return hostport(self.host, self.port)

    @property
    def name(self):
        return f"{self.backend}/{self.address}"


@dataclasses.dataclass
class Listener:
    name: str
    addresses: list             # [(host, port)]
    backend: str
    accept_proxy: bool = False


def _bindable(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def pick_ports(n, rng, hosts=("127.0.0.1", "::1")):
    """N ports free on every host in HOSTS, below the ephemeral range: a
    killed server's port cannot then be taken by some connect's local
    port before the server comes back, and other suites' free_port()
    (which asks for port 0) never lands on them."""
    lo, hi = 20000, 32000
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            eph = int(f.read().split()[0])
        if eph - 12000 > 10000:
            lo, hi = eph - 12000, eph - 1
    except (OSError, ValueError):
        pass
    ports = []
    while len(ports) < n:
        p = rng.randrange(lo, hi)
        if p not in ports and all(_bindable(h, p) for h in hosts):
            ports.append(p)
    return ports


class Topology:
    def __init__(self, rng):
        ports = iter(pick_ports(15, rng))
        self.listeners = [
            Listener("v4", [("127.0.0.1", next(ports))], "alpha"),
            Listener("v6", [("::1", next(ports))], "beta"),
            Listener("dual", [("127.0.0.1", p := next(ports)), ("::1", p)], "beta"),
            Listener("proxied", [("127.0.0.1", next(ports)), ("::1", next(ports))], "gamma",
                     accept_proxy=True),
        ]
        self.servers = [
            Server("alpha", "127.0.0.1", next(ports)), Server("alpha", "127.0.0.1", next(ports)),
            Server("alpha", "127.0.0.1", next(ports)),
            Server("alpha", "127.0.0.1", next(ports), spare=True),
            Server("beta", "::1", next(ports)), Server("beta", "::1", next(ports)),
            Server("beta", "127.0.0.1", next(ports), spare=True),
            Server("gamma", "127.0.0.1", next(ports)), Server("gamma", "127.0.0.1", next(ports)),
        ]
        self.backends = ["alpha", "beta", "gamma"]

    def backend_servers(self, backend, spares=True):
        return [s for s in self.servers if s.backend == backend and (spares or not s.spare)]

    def targets(self):
        """What the client workers connect to: [listener, host, port]."""
        plain, proxy = [], []
        for lst in self.listeners:
            for host, port in lst.addresses:
                (proxy if lst.accept_proxy else plain).append([lst.name, host, port])
        return {"plain": plain, "proxy": proxy}


class ConfigState:
    """The variable part of the valid configuration."""

    def __init__(self, topo, stats_socket, splice=True):
        self.topo = topo
        self.stats_socket = stats_socket
        self.splice = self.splice_base = splice
        self.weights = {s.name: 1 for s in topo.servers}
        self.balance = {"alpha": "roundrobin", "beta": "leastconn", "gamma": "random"}
        self.spare_listed = {"alpha": False, "beta": True}
        self.send_proxy = {b: "off" for b in topo.backends}
        self.limits = {lst.name: 0 for lst in topo.listeners}

    def vary(self, rng):
        """A harmless change for the next reload; returns what it did.
        Harmless: no connection may end for it. Flipping splice or
        send_proxy applies to new connections (and splice to transfers in
        flight, which must not notice); a removed spare's connections run
        to their end. (A listener's max_connections is harmless too — its
        clients wait in the kernel's backlog — but slows them, so the
        fault injector sets one only for seconds: self.limits.)"""
        kinds = ["weights", "weights", "spare", "balance", "send_proxy"]
        if self.splice_base:
            # Only from a start with splice on: the pipe pool keeps a floor
            # of spare pipes once it has made any, which a baseline taken
            # with splice off would not include.
            kinds.append("splice")
        what = rng.choice(kinds)
        if what == "splice":
            self.splice = not self.splice
            return f"splice {'on' if self.splice else 'off'}"
        if what == "send_proxy":
            b = rng.choice(self.topo.backends)
            self.send_proxy[b] = rng.choice([x for x in ("off", "v1", "v2")
                                             if x != self.send_proxy[b]])
            return f"send_proxy {b}={self.send_proxy[b]}"
        if what == "weights":
            s = rng.choice([s for s in self.topo.servers])
            self.weights[s.name] = rng.randint(1, 8)
            return f"weight {s.name}={self.weights[s.name]}"
        if what == "spare":
            b = rng.choice(list(self.spare_listed))
            self.spare_listed[b] = not self.spare_listed[b]
            return f"spare of {b} {'added' if self.spare_listed[b] else 'removed'}"
        b = rng.choice(("alpha", "beta"))
        self.balance[b] = rng.choice([x for x in BALANCES if x != self.balance[b]])
        return f"balance {b}={self.balance[b]}"

    def listed(self, server):
        return not server.spare or self.spare_listed[server.backend]

    def render(self):
        out = [
            "# netpolld soak: written by tests/soak/soak_config.py\n",
            "global = {\n",
            '  log_level = "info";\n',
            "  log_connections = true;\n",
            f"  splice = {'true' if self.splice else 'false'};\n",
            f'  stats_socket = "{self.stats_socket}";\n',
            '  shutdown_timeout = "10s";\n',
            "};\n",
            "defaults = {\n",
            '  connect_timeout = "5s";\n',
            # Long: a slow reader must never meet it (see the README's
            # idle_timeout; the soak's slowest connection takes seconds).
            '  idle_timeout = "120s";\n',
            "  retries = 2;\n",
            "};\n",
            "listeners = (\n",
        ]
        for i, lst in enumerate(self.topo.listeners):
            addrs = ", ".join(f'"{hostport(h, p)}"' for h, p in lst.addresses)
            out.append(f'  {{ name = "{lst.name}"; listen = [ {addrs} ]; backend = "{lst.backend}";'
                       + (" accept_proxy = true;" if lst.accept_proxy else "")
                       + (f" max_connections = {self.limits[lst.name]};"
                          if self.limits[lst.name] else "")
                       + (" },\n" if i + 1 < len(self.topo.listeners) else " }\n"))
        out.append(");\nbackends = (\n")
        for i, b in enumerate(self.topo.backends):
            out.append(f'  {{ name = "{b}"; balance = "{self.balance[b]}";'
                       f' send_proxy = "{self.send_proxy[b]}";\n')
            if b == "gamma":
                # Generous: a loaded machine must not make a check of a
                # loopback connect time out (both servers DOWN would refuse
                # clients for no fault of the soak's).
                out.append('    health_check = { interval = "2s"; timeout = "2s";'
                           ' rise = 2; fall = 3; };\n')
            servers = [s for s in self.topo.backend_servers(b) if self.listed(s)]
            out.append("    servers = (\n")
            for j, s in enumerate(servers):
                out.append(f'      {{ address = "{s.address}"; weight = {self.weights[s.name]}; }}'
                           + (",\n" if j + 1 < len(servers) else "\n"))
            out.append("    );\n  }" + (",\n" if i + 1 < len(self.topo.backends) else "\n"))
        out.append(");\n")
        return "".join(out)


# ---- broken files ------------------------------------------------------------

def _replace_once(text, old, new):
    assert old in text, old
    return text.replace(old, new, 1)


def _syntax(text, rng):
    how = rng.choice(("equals", "brace", "quote"))
    if how == "equals":
        # (Not a missing semicolon: libconfig takes a setting without one.)
        return _replace_once(text, 'log_level = "info";', 'log_level "info";')
    if how == "brace":
        return _replace_once(text, "listeners = (\n", "listeners = (\n  {\n")
    return _replace_once(text, 'connect_timeout = "5s";', 'connect_timeout = "5s;')


def _unknown_key(text, rng):
    where = rng.choice(("global", "listener", "server"))
    if where == "global":
        return _replace_once(text, "  log_connections = true;\n",
                             "  log_connections = true;\n  frobnicate = 1;\n")
    if where == "listener":
        return _replace_once(text, 'backend = "alpha";', 'backend = "alpha"; colour = "blue";')
    return _replace_once(text, "weight = ", "wieght = ")


def _bad_address(text, rng):
    i = text.index('address = "') + len('address = "')
    j = text.index('"', i)
    bad = rng.choice(("127.0.0.1:99999", "[::1:8080", "300.1.2.3:80", "127.0.0.1", "unix:"))
    return text[:i] + bad + text[j:]


def _bad_value(text, rng):
    how = rng.choice(("weight", "balance", "duration", "dangling"))
    if how == "weight":
        return _replace_once(text, "weight = 1;", "weight = 0;") if "weight = 1;" in text \
            else _replace_once(text, "weight = ", "weight = 999; w = ")
    if how == "balance":
        return _replace_once(text, 'balance = "', 'balance = "fastest"; b = "')
    if how == "duration":
        return _replace_once(text, 'idle_timeout = "120s";', 'idle_timeout = "5 parsecs";')
    return _replace_once(text, 'backend = "beta";', 'backend = "nowhere";')


BROKEN = {"syntax": _syntax, "unknown_key": _unknown_key, "bad_address": _bad_address,
          "bad_value": _bad_value}


def render_broken(state, kind, rng):
    """The current configuration broken in the way KIND names."""
    return BROKEN[kind](state.render(), rng)


def all_broken_variants(state):
    """Every broken file render_broken can make (for a check at start that
    each one really is refused)."""
    out = []
    for kind, fn in BROKEN.items():
        for seed in range(24):
            text = fn(state.render(), random.Random(seed))
            if text not in out:
                out.append(text)
    return out
