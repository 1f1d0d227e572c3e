"""What the phases share: the work directory, the ports, the daemon and
its peers (started and killed together), the stats socket and metrics
endpoint as the phases ask them, and the scaling of client counts
(--size) and hold times (--seconds)."""
import os
import tempfile

from hostile_config import GLOBAL_MAX, LISTENERS, config_text
from hostile_daemon import Daemon, DaemonDied, fd_count, is_sanitized, rss_kib
from hostile_good import GoodClient, Peer
from hostile_net import http_get, parse_stat, stats_query
from hostile_util import TIMEOUT, now, poll_until
from netpolld_testlib import free_port, parse_info


class Run:
    def __init__(self, args):
        self.args = args
        self.scale = max(args.seconds, 1) / 90.0
        self.size = args.size
        self.workdir = tempfile.mkdtemp(prefix="netpolld-hostile-")
        self.sock = os.path.join(self.workdir, "stats.sock")
        self.ports = {name: free_port() for name in LISTENERS}
        self.mport = free_port()
        self.phases = []
        self.d = self.echo = self.good = None
        self.sanitized = is_sanitized(args.netpolld)
        self.t_start = now()        # total_wall_s counts from here

    def n(self, count):
        """COUNT scaled by --size, each phase kept under 8000 sockets."""
        return max(1, min(int(count * self.size), 7000))

    def hold(self, seconds):
        """A hold time scaled by --seconds."""
        return max(1.0, seconds * self.scale)

    # -- set-up and tear-down --

    def start(self):
        self.global_max = self.n(GLOBAL_MAX)
        self.echo = Peer("echo")
        self.echo_port = int(self.echo.line().split()[1])
        text = config_text(self.ports, self.echo_port, self.global_max, self.sock, self.mport)
        self.d = Daemon(self.args.netpolld, self.workdir, text)
        self.d.wait_ready(TIMEOUT * 3)
        self.fd_start = fd_count(self.d.pid)
        self.rss_start = rss_kib(self.d.pid)
        self.good = GoodClient(self.ports["good"])
        self.good.wait_started()

    def stop_peers(self):
        for p in (self.good, self.echo):
            if p is not None:
                p.close()

    def kill_all(self):
        for p in (self.good, self.echo):
            if p is not None:
                p.kill()
        if self.d is not None and self.d.alive():
            self.d.proc.kill()

    # -- what every phase asks --

    def alive(self):
        """Raises DaemonDied once the daemon is gone: no wait goes on
        for a dead daemon."""
        if not self.d.alive():
            raise DaemonDied(f"netpolld exited ({self.d.proc.returncode})")

    def ask(self, *commands, timeout=TIMEOUT):
        self.alive()
        return stats_query(self.sock, *commands, timeout=timeout)

    def scrape(self, path="/metrics", timeout=TIMEOUT):
        self.alive()
        return http_get(self.mport, path, timeout=timeout)

    def info(self):
        return parse_info(self.ask("show info")[0])

    def rows(self):
        return parse_stat(self.ask("show stat")[0])

    def current(self):
        """connections_current, as a number."""
        return int(self.info()["connections_current"])

    def wait_current(self, want, timeout=TIMEOUT):
        """Waits until connections_current is at least WANT."""
        return poll_until(lambda: self.current() >= want, timeout)

    def wait_lines(self, listener, count, timeout):
        """LISTENER's connection lines once there are COUNT (or TIMEOUT)."""
        poll_until(lambda: len(self.d.conn_lines(listener)) >= count, timeout, 0.2)
        return self.d.conn_lines(listener)
