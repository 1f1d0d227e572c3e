"""The programs the bench runs: their Debian packages, their versions, and
how each proxy and each backend server is configured and started.

Every server is started here by the bench itself on a free loopback port:
no distro service is relied on (systemd need not be PID 1), and a daemon a
package's postinst may have started is simply ignored.
"""
import os
import shutil
import subprocess
import sys

from procs import StartError, free_port, wait_listening

PACKAGES = ["haproxy", "nginx", "libnginx-mod-stream", "iperf3", "sockperf",
            "redis-server", "redis-tools", "wrk"]
NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"

# The column names, in table order. "direct" is no proxy at all.
PROXIES = ["direct", "haproxy", "haproxy+splice", "nginx", "netpolld"]
PEERS = ["haproxy", "haproxy+splice", "nginx"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- packages -----------------------------------------------------------

def _installed(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", pkg],
                       capture_output=True, text=True, timeout=30)
    return r.returncode == 0 and r.stdout.strip() == "installed"


def ensure_packages():
    """apt-get installs whichever of PACKAGES dpkg says is missing. A
    failure is only reported: the peers it leaves out show "err"."""
    if not shutil.which("dpkg-query"):
        log(f"bench: not a Debian system; install yourself: {' '.join(PACKAGES)}")
        return
    missing = [p for p in PACKAGES if not _installed(p)]
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log(f"bench: installing {' '.join(missing)}")
    steps = [sudo + ["apt-get", "update", "-qq"],
             sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                     *missing]]
    for argv in steps:
        try:
            r = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                               stdout=sys.stderr, stderr=sys.stderr, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as e:
            log(f"bench: {' '.join(argv)}: {e}")
            return
        if r.returncode != 0:
            log(f"bench: {' '.join(argv)} exited {r.returncode}")
            return


def _first_line(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable ({e.__class__.__name__})"
    text = (r.stdout or r.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def versions(netpolld_binary):
    """What each program says its version is, and the Debian package's."""
    out = {
        "netpolld": _first_line([netpolld_binary, "-V"]),
        "haproxy": _first_line(["haproxy", "-v"]),
        "nginx": _first_line(["nginx", "-v"]),
        "iperf3": _first_line(["iperf3", "--version"]),
        "sockperf": _first_line(["sockperf", "--version"]),
        "redis-server": _first_line(["redis-server", "--version"]),
        "redis-benchmark": _first_line(["redis-benchmark", "--version"]),
        "wrk": _first_line(["wrk", "-v"]),
    }
    if shutil.which("dpkg-query"):
        out["packages"] = {p: _first_line(["dpkg-query", "-W", "-f=${Version}", p])
                           for p in PACKAGES}
    return out


# ---- proxies ------------------------------------------------------------

def _write(launcher, name, text):
    path = os.path.join(launcher.tmpdir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def _haproxy_argv(launcher, port, backend_port, splice):
    # Global maxconn 9500, not 10000: 10000 needs ~20014 descriptors, over
    # the 20000 hard limit, and haproxy 2.6 then refuses to start. Left to
    # itself with splice on, haproxy sets aside pipes for a quarter of the
    # connections and lands at 7990, too few for the 8000 idle connections;
    # an explicit 250 pipes (plenty: at most ~100 directions are busy at
    # once here, and past the pool haproxy copies) keeps 9500 for both.
    splice_global = "    maxpipes 250\n" if splice else ""
    splice_opts = ("    option splice-request\n    option splice-response\n"
                   if splice else "")
    cfg = _write(launcher, f"haproxy-{port}.cfg", f"""\
global
    nbthread 1
    maxconn 9500
{splice_global}
defaults
    mode tcp
    timeout connect 5s
    timeout client 10m
    timeout server 10m
    maxconn 10000
{splice_opts}
frontend bench
    bind 127.0.0.1:{port}
    default_backend pool

backend pool
    server s1 127.0.0.1:{backend_port}
""")
    # -db: stay in the foreground, one process (no master-worker).
    return ["haproxy", "-db", "-f", cfg]


def _nginx_stream_argv(launcher, port, backend_port):
    if not os.path.exists(NGINX_STREAM_MODULE):
        raise StartError(f"{NGINX_STREAM_MODULE} missing (libnginx-mod-stream)")
    tmp = launcher.tmpdir
    # master_process off: the one process is the worker, whose CPU we read.
    cfg = _write(launcher, f"nginx-{port}.conf", f"""\
load_module {NGINX_STREAM_MODULE};
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 20000;
error_log {tmp}/nginx-{port}.error.log warn;
pid {tmp}/nginx-{port}.pid;
events {{ worker_connections 20000; }}
stream {{
    server {{
        listen 127.0.0.1:{port};
        proxy_pass 127.0.0.1:{backend_port};
        proxy_connect_timeout 5s;
        proxy_timeout 10m;
    }}
}}
""")
    return ["nginx", "-e", f"{tmp}/nginx-{port}.error.log", "-p", tmp, "-c", cfg]


def _netpolld_argv(launcher, port, backend_port, binary):
    # Its defaults, connection log included (one line per connection on
    # stderr, which goes to a file).
    cfg = _write(launcher, f"netpolld-{port}.conf", f"""\
global = {{ log_connections = true; }};
listeners = ( {{ name = "bench"; listen = "127.0.0.1:{port}"; backend = "pool"; }} );
backends = ( {{ name = "pool"; servers = ( {{ address = "127.0.0.1:{backend_port}"; }} ); }} );
""")
    return [binary, "-c", cfg]


def proxy_argv(name, launcher, port, backend_port, netpolld_binary):
    if name == "haproxy":
        return _haproxy_argv(launcher, port, backend_port, splice=False)
    if name == "haproxy+splice":
        return _haproxy_argv(launcher, port, backend_port, splice=True)
    if name == "nginx":
        return _nginx_stream_argv(launcher, port, backend_port)
    if name == "netpolld":
        return _netpolld_argv(launcher, port, backend_port, netpolld_binary)
    raise ValueError(name)


def start_proxy(name, launcher, backend_port, netpolld_binary):
    """Starts proxy NAME on CPU 0 in front of BACKEND_PORT; returns
    (child, port) once it listens."""
    port = free_port()
    argv = proxy_argv(name, launcher, port, backend_port, netpolld_binary)
    tag = name.replace("+", "-")
    child = launcher.spawn(tag, "proxy", argv, log_name=f"{tag}-{port}.log")
    try:
        wait_listening(child, port)
    except StartError:
        launcher.stop(child, grace=2)
        raise
    return child, port


# ---- backends -----------------------------------------------------------

def _http_backend_argv(launcher, port):
    tmp = launcher.tmpdir
    temp_paths = "".join(f"    {kind}_temp_path {tmp}/{kind}_temp;\n"
                         for kind in ("client_body", "proxy", "fastcgi",
                                      "uwsgi", "scgi"))
    cfg = _write(launcher, f"nginx-http-{port}.conf", f"""\
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 20000;
error_log {tmp}/nginx-http-{port}.error.log warn;
pid {tmp}/nginx-http-{port}.pid;
events {{ worker_connections 20000; }}
http {{
    access_log off;
{temp_paths}    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "ok\\n"; }}
    }}
}}
""")
    return ["nginx", "-e", f"{tmp}/nginx-http-{port}.error.log", "-p", tmp, "-c", cfg]


def backend_argv(kind, launcher, port):
    if kind == "iperf3":
        return ["iperf3", "-s", "-B", "127.0.0.1", "-p", str(port)]
    if kind == "redis":
        return ["redis-server", "--bind", "127.0.0.1", "--port", str(port),
                "--save", "", "--appendonly", "no", "--protected-mode", "no",
                "--maxclients", "20000"]
    if kind == "sockperf":
        return ["sockperf", "server", "--tcp", "-i", "127.0.0.1", "-p", str(port)]
    if kind == "http":
        return _http_backend_argv(launcher, port)
    raise ValueError(kind)


class Backends:
    """The backend servers, on CPU 1, started once and restarted if one
    has died (say an iperf3 server left in a bad state by a failed test)."""

    def __init__(self, launcher):
        self.launcher = launcher
        self.running = {}

    def port(self, kind):
        """The port of a running KIND server; StartError if it cannot run."""
        entry = self.running.get(kind)
        if entry and entry[0].alive():
            return entry[1]
        if entry:
            log(f"bench: backend {kind} died ({entry[0].log_tail(2)}); restarting")
            self.launcher.stop(entry[0], grace=2)
            del self.running[kind]
        port = free_port()
        argv = backend_argv(kind, self.launcher, port)
        child = self.launcher.spawn(f"backend-{kind}", "load", argv,
                                    log_name=f"backend-{kind}-{port}.log")
        try:
            wait_listening(child, port)
        except StartError:
            self.launcher.stop(child, grace=2)
            raise
        self.running[kind] = (child, port)
        return port

    def restart(self, kind):
        entry = self.running.pop(kind, None)
        if entry:
            self.launcher.stop(entry[0], grace=2)
