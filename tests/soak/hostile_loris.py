"""The slowloris phase: thousands of clients that send one byte and then
nothing. On an accept_proxy listener the 5 s header timeout ends them
(end=proxy_header_error), on a plain one only idle_timeout does
(end=idle_timeout); neither fires early. Beside them, slow readers: a
burst sent, nothing ever read, every buffer on the way full, nothing
moving: idle_timeout ends them too (when, relative to their last byte,
is reported). Holding them all must not make the proxy spin."""
import collections
import select
import time

from hostile_config import HEADER_TIMEOUT_S, LORIS_IDLE_S
from hostile_net import nb_connect, open_many, rst_close, settle_keep
from hostile_phase import Phase, ends
from hostile_util import TIMEOUT, median_max, now

LORIS_EACH = 1400           # slowloris clients per listener (plain, accept_proxy)
READERS = 20                # slow readers: a burst sent, nothing ever read
READER_BURST = 256 << 10    # more than the buffers between them and the echo hold
# name, the end its log lines must say, what its clients may receive,
# the timeout that ends them
GROUPS = (("loris_plain", "idle_timeout", b"G", LORIS_IDLE_S),
          ("loris_proxy", "proxy_header_error", b"", HEADER_TIMEOUT_S),
          ("loris_read", "idle_timeout", b"", LORIS_IDLE_S))


class _Loris:
    def __init__(self, run, p):
        self.run, self.p = run, p
        self.groups = {}            # name -> its established sockets
        self.got = {}               # fd -> the bytes it received
        self.closed_at = {}         # fd -> seconds until its end
        self.t_sent = None          # when the silent ones sent their byte
        self.reads = []             # the slow readers
        self.t_conn = {}            # reader fd -> when it connected
        self.sent = {}              # reader fd -> bytes of its burst sent
        self.t_moved = {}           # reader fd -> when a byte of it last moved
        self.owner = {}             # fd -> a socket that can see its end
        self.by_port = {}           # reader's port -> its fd
        self.ep = None

    def open_silent(self, n):
        """N clients per listener that send one byte, then nothing."""
        for name, byte in (("loris_plain", b"G"), ("loris_proxy", b"P")):
            errors = collections.Counter()
            socks = open_many(self.run.ports[name], n, errors)
            est, failed, pending = settle_keep(socks)
            self.p.check(len(est) == n, f"{name}: only {len(est)} of {n} connected "
                                        f"({len(pending)} pending, {len(failed)} failed, "
                                        f"{dict(errors)})")
            for s in est:
                s.send(byte)
            self.groups[name] = est
        self.t_sent = now()

    def open_readers(self):
        """Slow readers: they send a burst and never read, so the echo
        fills every buffer on the way back and then nothing moves
        either way: idle, as far as idle_timeout is concerned."""
        reads = []
        for _ in range(self.run.n(READERS)):
            s = nb_connect(self.run.ports["loris_read"], rcvbuf=4096, sndbuf=4096)
            self.t_conn[s.fileno()] = now()
            reads.append(s)
        self.reads = settle_keep(reads)[0]
        self.groups["loris_read"] = self.reads
        self.sent = {s.fileno(): 0 for s in self.reads}
        stop = now() + 3
        while now() < stop and any(v < READER_BURST for v in self.sent.values()):
            self.push_burst()
            time.sleep(0.01)

    def push_burst(self):
        burst = b"r" * READER_BURST
        for s in self.reads:
            fd = s.fileno()
            if self.sent[fd] < len(burst):
                try:
                    self.sent[fd] += s.send(burst[self.sent[fd]:])
                    self.t_moved[fd] = now()
                except (BlockingIOError, InterruptedError):
                    pass

    def readers_logged(self):
        """Each reader's end from the log, as seconds after its last
        byte moved; whether all of them ended."""
        for ln in self.run.d.conn_lines("loris_read"):
            fd = self.by_port.get(int(ln["client"].rsplit(":", 1)[1]))
            if fd is not None and fd not in self.closed_at:
                moved = self.t_moved.get(fd, self.t_conn[fd]) - self.t_conn[fd]
                self.closed_at[fd] = int(ln["duration_ms"]) / 1000 - moved
        return all(s.fileno() in self.closed_at for s in self.reads)

    def watch(self):
        """Watch them end: the plain ones get their byte back then a FIN
        at idle_timeout, the accept_proxy ones a FIN at the header
        timeout. The slow readers cannot see theirs (it waits behind
        the bytes they never read): the log says when they ended."""
        self.ep = select.epoll()
        for name, socks in self.groups.items():
            for s in socks:
                self.got[s.fileno()] = b""
                if name != "loris_read":
                    self.owner[s.fileno()] = s
                    self.ep.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
        self.by_port = {s.getsockname()[1]: s.fileno() for s in self.reads}

    def wait_ends(self):
        """Until every client ended, or the deadline."""
        deadline = self.t_sent + max(HEADER_TIMEOUT_S, LORIS_IDLE_S) + TIMEOUT * 3
        while len(self.closed_at) < len(self.owner) + len(self.reads) and now() < deadline:
            if self.reads:
                self.readers_logged()
            for fd, _ in self.ep.poll(0.2, 4096):
                try:
                    b = self.owner[fd].recv(64)
                except OSError:
                    b = b""
                if b:
                    self.got[fd] += b
                    continue
                self.closed_at[fd] = now() - self.t_sent
                self.ep.unregister(fd)
        self.ep.close()
        self.readers_logged()

    def judge(self, name, want_end, want_data, timeout_s):
        p, socks = self.p, self.groups[name]
        done = [self.closed_at[s.fileno()] for s in socks if s.fileno() in self.closed_at]
        p.check(len(done) == len(socks), f"{name}: {len(socks) - len(done)} clients never closed")
        # The plain ones get their byte back (unless the echo was so
        # starved that idle_timeout came first: nothing, then).
        wrong = [self.got[s.fileno()] for s in socks
                 if self.got[s.fileno()] not in (want_data, b"")]
        p.check(not wrong, f"{name}: {len(wrong)} clients got {wrong[0]!r}, not {want_data!r}"
                if wrong else "")
        short = name.split("_")[1]
        p.field(f"{short}_closed_after_s", median_max(done))
        # Reported, not judged: a loaded machine may be this late too.
        # For the readers it is counted from their last byte sent.
        # (idle_timeout: "no byte either way for this long")
        late = sum(1 for x in done if x > 1.5 * timeout_s)
        if late:
            p.field(f"{short}_closed_after_1.5x_timeout", late)
        self.judge_lines(name, short, want_end, timeout_s)

    def judge_lines(self, name, short, want_end, timeout_s):
        p, socks = self.p, self.groups[name]
        lines = self.run.wait_lines(name, len(socks), TIMEOUT)
        p.field(f"{short}_ends", ends(lines))
        p.check(len(lines) == len(socks), f"{name}: {len(lines)} log lines for {len(socks)} clients")
        bad = [ln for ln in lines if ln.get("end") != want_end]
        p.check(not bad, f"{name}: {len(bad)} ended otherwise than {want_end}: {bad[:1]}")
        early = [ln for ln in lines if int(ln.get("duration_ms", 0)) < timeout_s * 1000 - 50]
        p.check(not early, f"{name}: {len(early)} ended before {timeout_s}s: {early[:1]}")
        if name == "loris_proxy":
            routed = [ln for ln in lines if ln.get("server") != "-"]
            p.check(not routed, f"{name}: {len(routed)} reached a server without a header")


def slowloris(run):
    p = Phase(run, "slowloris")
    n = run.n(LORIS_EACH)
    lo = _Loris(run, p)
    lo.open_silent(n)
    lo.open_readers()
    p.field("clients", "+".join(str(len(lo.groups[g[0]])) for g in GROUPS))
    sent = lo.sent.values()
    p.field("reader_kib_sent", f"{min(sent, default=0) // 1024}..{max(sent, default=0) // 1024}")
    cc = run.wait_current(2 * n)
    p.field("held_max", run.info()["connections_current"] if cc is None else "all")
    lo.watch()
    c0, t0 = p.cpu_now(), now()
    lo.wait_ends()
    p.spin_check(c0, t0, "wait_cpu_frac", "holding slowloris clients")
    for group in GROUPS:
        lo.judge(*group)
    for socks in lo.groups.values():
        for s in socks:
            rst_close(s)
    p.finish()
