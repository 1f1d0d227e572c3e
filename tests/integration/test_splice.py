"""The splice() relay (SPEC global.splice) against the real binary. With
splice on, a direction carrying a bulk transfer moves through a kernel
pipe instead of the ring, and small request/response traffic stays on the
ring; either way every byte arrives once and in order, half-close, resets
and backpressure behave as on the buffered path, `show info` counts the
pipes lent out (pipes_in_use: at least 1 while a bulk transfer is stalled
with splice on, always 0 with it off, 0 again once the connections are
gone), pipes give way when descriptors are short, and a reload may flip
splice under a transfer in flight.

Every scenario that is the same either way runs with splice on and off.
The configurations here set splice themselves, so NETPOLLD_TEST_SPLICE
(which these tests of it also cover) leaves them as they are."""
import collections
import os
import resource
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import (BINARY, TIMEOUT, conf_text, echo_handler, free_port, inject_splice,
                      parse_info, recv_exactly, reset, stats_query, wait_until, write_config)

KiB, MiB = 1 << 10, 1 << 20
CHUNK = 64 * KiB
SPLICE = {"on": "true", "off": "false"}
on_and_off = pytest.mark.parametrize("splice", ["on", "off"])
# As test_memory: the proxy keeps at most a ring per direction in user
# space (with splice on, what waits in a pipe is kernel memory). 4 MiB
# over the warmed-up baseline leaves room for allocator and sanitizer
# noise, and is far below the megabytes a proxy that kept reading would hold.
RSS_BOUND_KIB = 4 * 1024


# ---- data ------------------------------------------------------------------

def data(n):
    """N random bytes: a reordered, lost or repeated block cannot match."""
    return os.urandom(n)


def first_difference(got, want):
    n = min(len(got), len(want))
    lo = 0
    while lo < n:                       # block by block, then byte by byte
        hi = min(n, lo + CHUNK)
        if got[lo:hi] != want[lo:hi]:
            return next(i for i in range(lo, hi) if got[i] != want[i])
        lo = hi
    return n


def check_exact(got, want, what):
    """GOT is WANT, or the message says how long each is and where they
    part (never a multi-megabyte diff)."""
    if got != want:
        raise AssertionError(f"{what}: got {len(got)} bytes, expected {len(want)}; "
                             f"they differ from offset {first_difference(got, want)}")


def check_prefix(got, want, what):
    """GOT is the start of WANT (what was delivered before a reset)."""
    if len(got) > len(want) or got != want[:len(got)]:
        raise AssertionError(f"{what}: {len(got)} bytes are not a prefix of the "
                             f"{len(want)} sent; they differ from offset "
                             f"{first_difference(got, want)}")


# ---- moving bytes ----------------------------------------------------------

class Sender:
    """Sends DATA on SOCK from a thread in CHUNK pieces, counting what the
    kernel took; then shuts SOCK's write side if SHUT. It pauses after
    PAUSE_AT bytes until resume(); stop() makes it quit after the piece in
    progress. An error (expected once a peer reset) is kept, not raised."""

    def __init__(self, sock, payload, shut=True, pause_at=None):
        self.sock, self.data, self.shut = sock, payload, shut
        self.sent, self.error, self.done = 0, None, False
        self.pause_at = pause_at
        self.resumed, self.stopped = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        view = memoryview(self.data)
        try:
            while self.sent < len(view) and not self.stopped.is_set():
                if self.pause_at is not None and self.sent >= self.pause_at:
                    assert self.resumed.wait(3 * TIMEOUT), "sender never resumed"
                    self.pause_at = None
                    continue                    # stop() resumes it too
                end = len(view) if self.pause_at is None else self.pause_at
                self.sent += self.sock.send(view[self.sent:min(end, self.sent + CHUNK)])
            if self.sent < len(view):
                return                          # stopped
            if self.shut:
                self.sock.shutdown(socket.SHUT_WR)
            self.done = True
        except (OSError, AssertionError) as e:
            self.error = e

    def resume(self):
        self.resumed.set()

    def stop(self):
        self.stopped.set()
        self.resumed.set()
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive(), f"the sender is stuck at {self.sent} bytes"

    def join(self, timeout=2 * TIMEOUT):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), \
            f"the sender is stuck at {self.sent} of {len(self.data)} bytes"
        assert self.error is None, f"sending failed after {self.sent} bytes: {self.error!r}"
        assert self.done

    def wait_stalled(self, quiet=0.3):
        """Waits until the peer has taken no byte for QUIET seconds (or all
        were sent: with splice on the proxy's kernel may grow its receive
        buffer to tcp_rmem's maximum and take them all)."""
        last = {"sent": -1, "at": 0.0}

        def still():
            now = time.monotonic()
            if self.sent != last["sent"]:
                last["sent"], last["at"] = self.sent, now
                return False
            return now - last["at"] >= quiet
        wait_until(still, timeout=2 * TIMEOUT, interval=0.02, what="the sender to stall")


def read_to_eof(sock, expect_reset=False):
    """What SOCK receives until EOF; with EXPECT_RESET, until EOF or a
    reset, and returns (bytes, "eof" | "reset")."""
    got = bytearray()
    try:
        while True:
            b = sock.recv(1 << 18)
            if not b:
                break
            got += b
    except ConnectionResetError:
        if not expect_reset:
            raise AssertionError(f"reset after {len(got)} bytes")
        return bytes(got), "reset"
    return (bytes(got), "eof") if expect_reset else bytes(got)


class GatedReader:
    """Reads SOCK from a thread, never more than allow() lets it, then (once
    TOTAL bytes are in) on to EOF; stop() ends it after the read under way."""

    def __init__(self, sock, total):
        self.sock, self.total = sock, total
        self.got, self.allowed, self.error, self.eof = bytearray(), 0, None, False
        self.stopped = False
        self.cv = threading.Condition()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while True:
                with self.cv:
                    assert self.cv.wait_for(lambda: self.stopped or self.allowed > len(self.got)
                                            or len(self.got) >= self.total, 3 * TIMEOUT), \
                        "reader never allowed on"
                    if self.stopped:
                        return
                    room = (self.allowed if len(self.got) < self.total else 1 << 30) - len(self.got)
                b = self.sock.recv(min(1 << 18, room))
                if not b:
                    self.eof = True
                    return
                self.got += b
        except (OSError, AssertionError) as e:
            self.error = e

    def allow(self, n):
        with self.cv:
            self.allowed = n
            self.cv.notify()

    def stop(self):
        """Reads no more; returns what was read (the read under way, if
        any, may still add to it until the thread is gone)."""
        with self.cv:
            self.stopped = True
            self.cv.notify()
        return self.got

    def wait_for(self, n):
        wait_until(lambda: len(self.got) >= n or self.error or self.eof, timeout=2 * TIMEOUT,
                   what=f"{n} bytes read ({len(self.got)} so far)")
        assert len(self.got) >= n, (len(self.got), n, self.error, self.eof)

    def join(self):
        self.allow(self.total)
        self.thread.join(2 * TIMEOUT)
        assert not self.thread.is_alive(), f"reader stuck at {len(self.got)} of {self.total}"
        assert self.error is None, f"reading failed after {len(self.got)} bytes: {self.error!r}"
        assert self.eof
        return bytes(self.got)


def client(port, rcvbuf=None):
    """A connection to the proxy. RCVBUF fixes a small receive buffer (set
    before connect): the bytes a stalled download leaves waiting are then
    mostly in the proxy's sockets and pipe, not the client's."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(TIMEOUT)
    s.connect(("127.0.0.1", port))
    return s


# ---- the daemon ------------------------------------------------------------

def fd_kinds(pid):
    """PID's descriptors by kind: socket, pipe, anon_inode, file."""
    kinds = collections.Counter()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue                    # closed meanwhile
        kinds["file" if target.startswith("/") else target.split(":", 1)[0]] += 1
    return kinds


class Proxy:
    """netpolld with splice as SPLICE says ("on"/"off"), listener "front"
    on a free port, the one BACKEND, and a stats socket."""

    def __init__(self, netpolld, backend, tmp_path, splice, global_=None, start=None, **conf):
        self.sock = os.path.join(str(tmp_path), "stats.sock")
        self.port = free_port()
        self.backend = backend
        self.global_ = {"stats_socket": f'"{self.sock}"', **(global_ or {})}
        self.conf = conf
        self.d = netpolld(self.text(splice), **(start or {}))
        self.base = fd_kinds(self.d.pid)

    def text(self, splice):
        g = {"splice": SPLICE[splice], **self.global_}
        return conf_text(f"127.0.0.1:{self.port}", self.backend.address, global_=g, **self.conf)

    def info(self):
        return parse_info(stats_query(self.sock, "show info")[0])

    def pipes(self):
        return int(self.info()["pipes_in_use"])

    def reload(self, splice, generation):
        write_config(self.d.config_path, self.text(splice))
        self.d.signal(signal.SIGHUP)
        self.d.wait_log(r" info reload: generation %d serving" % generation)

    def rebase(self):
        """Takes the descriptor baseline now (after a warm-up)."""
        self.base = self.settle()

    def settle(self, borrowed=2):
        """Waits until no connection is open, no pipe lent, and the sockets
        are back to the baseline; spare pipes may stay pooled, but no more
        than the BORROWED pipes the test could have had lent at once.
        Returns the descriptors then (none of them a stats client's: the
        daemon closes those a moment after answering)."""
        last = {}

        def settled():
            last["fds"] = fd_kinds(self.d.pid)     # before the query: it adds a socket
            last["info"] = info = self.info()
            return (info["connections_current"] == "0" and info["pipes_in_use"] == "0"
                    and last["fds"]["socket"] == self.base["socket"]
                    and last["fds"]["pipe"] <= self.base["pipe"] + 2 * borrowed)
        try:
            wait_until(settled, what="connections, pipes and sockets back to the baseline")
        except AssertionError as e:
            raise AssertionError(f"{e}: last seen {last['info']!r}, descriptors "
                                 f"{dict(last['fds'])}, baseline {dict(self.base)}") from None
        assert self.d.proc.poll() is None, self.d.log()
        return last["fds"]


# ---- NETPOLLD_TEST_SPLICE: the rewriting -------------------------------------

LIBCONFIG_BARE = """\
listeners = ( { name = "front"; listen = "127.0.0.1:%(port)d"; backend = "pool"; } );
backends = ( { name = "pool"; servers = ( { address = "127.0.0.1:%(port)d"; } ); } );
"""
YAML_BLOCK = """\
# a comment
global:
    # indented four, after a comment
    log_level: info
listeners:
  - name: front
    listen: 127.0.0.1:%(port)d
    backend: pool
backends:
  - name: pool
    servers:
      - address: 127.0.0.1:%(port)d
"""
YAML_FLOW = YAML_BLOCK.replace("global:\n    # indented four, after a comment\n"
                               "    log_level: info\n", "global: { log_level: info }\n")
YAML_BARE = YAML_BLOCK.replace("global:\n    # indented four, after a comment\n"
                               "    log_level: info\n", "")


def check_config(tmp_path, name, text):
    path = os.path.join(str(tmp_path), name)
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([BINARY, "-t", "-c", path], capture_output=True, text=True,
                       timeout=TIMEOUT)
    return r.returncode, r.stdout + r.stderr


@pytest.mark.parametrize("mode", ["on", "off"])
def test_inject_splice_sets_it_in_every_config_shape_and_the_result_passes_the_check(
        tmp_path, mode):
    value = SPLICE[mode]
    port = free_port()
    cases = [
        ("group.conf", conf_text(f"127.0.0.1:{port}", f"127.0.0.1:{port}"),
         f"global = {{ splice = {value};\n"),
        ("colon.conf", conf_text(f"127.0.0.1:{port}", f"127.0.0.1:{port}")
         .replace("global = {", "global : {"), f"global : {{ splice = {value};\n"),
        ("empty.conf", "global = {};\n" + LIBCONFIG_BARE % {"port": port},
         f"global = {{ splice = {value};}};\n"),
        ("bare.conf", LIBCONFIG_BARE % {"port": port}, f"global = {{ splice = {value}; }}; "),
        ("block.yaml", YAML_BLOCK % {"port": port},
         f"global:\n    splice: {value}\n    # indented four"),
        ("flow.yaml", YAML_FLOW % {"port": port}, f"global: {{splice: {value}, log_level"),
        ("bare.yml", YAML_BARE % {"port": port}, f"global:\n  splice: {value}\n# a comment"),
    ]
    for name, text, expect in cases:
        got = inject_splice(text, yaml=name.endswith(("yaml", "yml")), mode=mode)
        assert expect in got, (name, got)
        assert got.count("splice") == 1, (name, got)
        if name.endswith(".conf"):
            # On a line that was there: every error keeps its line number.
            assert len(got.splitlines()) == len(text.splitlines()), (name, got)
        assert check_config(tmp_path, name, got) == (0, "configuration OK\n"), (name, got)


def test_inject_splice_leaves_alone_what_it_should_not_touch(tmp_path, monkeypatch):
    text = conf_text("127.0.0.1:1", "127.0.0.1:2")
    # No mode: the files are written as the tests made them.
    monkeypatch.delenv("NETPOLLD_TEST_SPLICE", raising=False)
    assert inject_splice(text) == text
    monkeypatch.setenv("NETPOLLD_TEST_SPLICE", "")
    assert inject_splice(text) == text
    monkeypatch.setenv("NETPOLLD_TEST_SPLICE", "OFF")
    assert "splice = false;" in inject_splice(text)
    monkeypatch.setenv("NETPOLLD_TEST_SPLICE", "sometimes")
    with pytest.raises(ValueError):
        inject_splice(text)
    monkeypatch.setenv("NETPOLLD_TEST_SPLICE", "off")

    keep = [
        # splice already set, whichever way, in either syntax.
        conf_text("127.0.0.1:1", "127.0.0.1:2", global_={"splice": "true"}),
        "global:\n  splice: true\n",
        # Shapes this does not know: left as they are.
        "global = 5;\n",
        "global = {};\nglobal = {};\n",
        "@include \"other.conf\"\n",
        "# about global settings\nlisteners = ();\n",
        b"global = { };\n",
        None,
    ]
    for t in keep:
        assert inject_splice(t) == t, t
    for t in ["global:\nlisteners: []\n", "global: 5\n", "global: &g\n  a: 1\n", "--- \na: 1\n",
              "- a\n- b\n", "global:\n  a: 1\nglobal:\n  b: 2\n", ""]:
        assert inject_splice(t, yaml=True) == t, t

    # A deliberately broken libconfig file stays broken the same way, its
    # errors on the same lines.
    from test_cli import BAD_CONF, BAD_ERRORS
    bad = BAD_CONF % {"port": free_port()}
    injected = inject_splice(bad)
    assert "splice = false" in injected
    rc_bad, out_bad = check_config(tmp_path, "netpolld.conf", bad)
    rc_inj, out_inj = check_config(tmp_path, "netpolld.conf", injected)
    assert rc_bad == rc_inj == 1
    assert out_inj == out_bad, (out_bad, out_inj)
    assert [int(ln.split(":")[1]) for ln in out_inj.splitlines()] == \
        [line for line, _ in BAD_ERRORS["netpolld.conf"]]


def test_the_daemon_and_reloads_get_their_files_through_the_switch(tmp_path, monkeypatch,
                                                                   netpolld):
    monkeypatch.setenv("NETPOLLD_TEST_SPLICE", "off")
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", f"127.0.0.1:{port}"))
    with open(d.config_path) as f:
        assert "global = { splice = false;\n" in f.read()
    # A reload's file (test_reload's write() goes through here too).
    write_config(d.config_path, conf_text(f"127.0.0.1:{port}", f"127.0.0.1:{port}"))
    with open(d.config_path) as f:
        assert "splice = false;" in f.read()
    d.signal(signal.SIGHUP)
    d.wait_log(r" info reload: generation 1 serving")
    # A file that says splice itself is written as it is.
    monkeypatch.setenv("NETPOLLD_TEST_SPLICE", "on")
    explicit = conf_text(f"127.0.0.1:{port}", f"127.0.0.1:{port}", global_={"splice": "false"})
    assert write_config(d.config_path, explicit) == explicit


# ---- bulk ------------------------------------------------------------------

@on_and_off
def test_bulk_both_directions_at_once_arrives_exactly(netpolld, servers, tmp_path, splice):
    """16 MiB each way through one connection at the same time: both
    streams arrive whole and in order, and the log counts them exactly."""
    up, down = data(16 * MiB), data(16 * MiB)
    seen = {}

    def handler(conn):
        sender = Sender(conn, down)             # FIN once sent
        seen["up"] = read_to_eof(conn)
        sender.join()
        conn.close()

    backend = servers(handler)
    p = Proxy(netpolld, backend, tmp_path, splice)
    s = client(p.port)
    sender = Sender(s, up)
    got = read_to_eof(s)
    sender.join()
    s.close()

    check_exact(got, down, "download")
    wait_until(lambda: "up" in seen or backend.errors, what="the server to read to EOF")
    assert not backend.errors, backend.errors
    check_exact(seen["up"], up, "upload")
    (line,) = p.d.wait_conns(1)
    assert (int(line["bytes_in"]), int(line["bytes_out"])) == (len(up), len(down)), line
    assert line["end"] in ("client_close", "server_close"), line
    p.settle()


def push_handler(ctl):
    """Handler: the first byte is a command. b"w" (warm-up): 2 MiB back and
    close. b"p": sends ctl["push"] from a small send buffer (a Sender in
    ctl["sender"]), then closes once it is all sent."""
    def handler(conn):
        mode = recv_exactly(conn, 1)
        if mode == b"w":
            conn.sendall(ctl["warm"])
        else:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * KiB)
            ctl["sender"] = Sender(conn, ctl["push"], shut=False)
            ctl["sender"].join(3 * TIMEOUT)
        conn.close()
    return handler


def warm_up(p, ctl):
    """One connection that moved bytes and is gone: pools and arenas are
    at their steady size, the baselines can be taken."""
    with client(p.port) as w:
        w.sendall(b"w")
        check_exact(read_to_eof(w), ctl["warm"], "warm-up")
    p.d.wait_conns(1)
    p.rebase()


@on_and_off
def test_stalled_reader_holds_one_pipe_and_bounded_memory_then_gets_every_byte(
        netpolld, servers, tmp_path, splice):
    """The server sends 24 MiB to a client that reads nothing: the transfer
    stalls with the bytes in kernel buffers, not in the proxy. With splice
    on the stalled direction holds a pipe (and at most one per direction);
    with it off none. Then the client reads everything, exactly; once it
    is closed no pipe is lent and the sockets are back to the baseline."""
    ctl = {"warm": data(2 * MiB), "push": data(24 * MiB)}
    backend = servers(push_handler(ctl))
    p = Proxy(netpolld, backend, tmp_path, splice)
    warm_up(p, ctl)
    rss0 = p.d.rss_kib()

    s = client(p.port, rcvbuf=64 * KiB)
    s.sendall(b"p")
    wait_until(lambda: "sender" in ctl, what="the server to start sending")
    ctl["sender"].wait_stalled()

    if splice == "on":
        wait_until(lambda: p.pipes() >= 1, what="a pipe lent to the stalled direction")
    for _ in range(3):
        n = p.pipes()
        assert (1 <= n <= 2) if splice == "on" else n == 0, f"pipes_in_use {n}"
    # Two sockets more than the baseline, and no more pipes than the two
    # directions could borrow (the stats query's socket comes and goes).
    wait_until(lambda: fd_kinds(p.d.pid)["socket"] == p.base["socket"] + 2,
               what="the connection's two sockets and no other")
    kinds = fd_kinds(p.d.pid)
    assert kinds["pipe"] <= p.base["pipe"] + 4, (dict(kinds), dict(p.base))
    assert kinds["pipe"] == p.base["pipe"] or splice == "on", (dict(kinds), dict(p.base))
    grown = p.d.rss_kib() - rss0
    assert grown < RSS_BOUND_KIB, f"RSS grew {grown} KiB with {ctl['sender'].sent} bytes sent"

    check_exact(read_to_eof(s), ctl["push"], "the stalled download")
    ctl["sender"].join()
    s.close()
    lines = p.d.wait_conns(2)
    assert (int(lines[1]["bytes_in"]), int(lines[1]["bytes_out"])) == (1, len(ctl["push"]))
    assert lines[1]["end"] == "server_close", lines[1]
    p.settle()
    assert not backend.errors, backend.errors


# ---- half-close and close --------------------------------------------------

@on_and_off
def test_client_half_close_after_bulk_then_bulk_reply(netpolld, servers, tmp_path, splice):
    """The client sends 8 MiB and shuts its write side; the server reads to
    EOF (all 8 MiB first), then sends 8 MiB back and closes: the client
    gets exactly that, then EOF."""
    request, reply = data(8 * MiB), data(8 * MiB)
    seen = {}

    def handler(conn):
        seen["request"] = read_to_eof(conn)
        conn.sendall(reply)
        conn.close()

    backend = servers(handler)
    p = Proxy(netpolld, backend, tmp_path, splice)
    s = client(p.port)
    Sender(s, request).join()
    got = read_to_eof(s)
    s.close()

    assert not backend.errors, backend.errors
    check_exact(seen["request"], request, "request")
    check_exact(got, reply, "reply")
    (line,) = p.d.wait_conns(1)
    assert (int(line["bytes_in"]), int(line["bytes_out"])) == (len(request), len(reply)), line
    assert line["end"] == "client_close", line
    p.settle()


@on_and_off
def test_server_bulk_then_half_close_while_client_keeps_sending(netpolld, servers, tmp_path,
                                                                splice):
    """The server sends 8 MiB and shuts its write side while the client is
    uploading 8 MiB; the client sees all 8 MiB then EOF, sends the rest of
    its upload after that EOF, and the server gets every byte of it."""
    upload, download = data(8 * MiB), data(8 * MiB)
    seen, done = {}, threading.Event()

    def handler(conn):
        sender = Sender(conn, download)         # then SHUT_WR, still reading
        seen["upload"] = read_to_eof(conn)
        sender.join()
        done.set()
        conn.close()

    backend = servers(handler)
    p = Proxy(netpolld, backend, tmp_path, splice)
    s = client(p.port)
    # 3 MiB now, the rest only once the server's FIN has come through.
    sender = Sender(s, upload, pause_at=3 * MiB)
    got = read_to_eof(s)
    check_exact(got, download, "download")
    assert not sender.done, "the upload finished before the server's FIN: nothing was tested"
    sender.resume()
    sender.join()
    assert done.wait(TIMEOUT), "the server never saw the client's FIN"
    s.close()

    assert not backend.errors, backend.errors
    check_exact(seen["upload"], upload, "upload")
    (line,) = p.d.wait_conns(1)
    assert (int(line["bytes_in"]), int(line["bytes_out"])) == (len(upload), len(download)), line
    assert line["end"] == "server_close", line
    p.settle()


@on_and_off
def test_server_fin_behind_bulk_reaches_a_slow_client_after_every_byte(
        netpolld, servers, tmp_path, splice):
    """The server sends 16 MiB and closes while the client has not read: the
    FIN reaches the proxy while it still holds megabytes for the client
    (in its pipe, with splice on). They all arrive first, then a clean EOF;
    the log says bytes_out 16 MiB, end=server_close."""
    ctl = {"push": data(16 * MiB)}
    backend = servers(push_handler(ctl))
    p = Proxy(netpolld, backend, tmp_path, splice)
    s = client(p.port, rcvbuf=64 * KiB)
    s.sendall(b"p")
    wait_until(lambda: "sender" in ctl, what="the server to start sending")
    ctl["sender"].wait_stalled()
    if splice == "on":
        wait_until(lambda: p.pipes() >= 1, what="a pipe lent to the stalled direction")

    got = read_to_eof(s)                        # raises on a reset
    ctl["sender"].join()
    s.close()
    check_exact(got, ctl["push"], "download")
    (line,) = p.d.wait_conns(1)
    assert (int(line["bytes_in"]), int(line["bytes_out"])) == (1, len(ctl["push"])), line
    assert line["end"] == "server_close", line
    p.settle()
    assert not backend.errors, backend.errors


# ---- resets ----------------------------------------------------------------

@on_and_off
def test_server_reset_mid_transfer_ends_the_session_cleanly(netpolld, servers, tmp_path,
                                                            splice):
    """Bulk flows both ways; after 4 MiB each way the server resets
    (SO_LINGER 0). The proxy survives; the client's connection ends (EOF or
    reset) with a prefix of what the server sent; the server had a prefix
    of the upload; the log says server_reset; no pipe stays lent and no
    socket stays open."""
    up, down = data(16 * MiB), data(16 * MiB)
    reset_at = 4 * MiB
    seen, done = {}, threading.Event()

    def handler(conn):
        reader = GatedReader(conn, len(up))
        reader.allow(len(up))
        sender = Sender(conn, down, shut=False, pause_at=reset_at)
        wait_until(lambda: sender.sent >= reset_at and len(reader.got) >= reset_at,
                   what="4 MiB each way")
        seen["sent"] = sender.sent
        sender.stop()
        reader.stop()                           # what is unread goes with the reset
        reset(conn)
        reader.thread.join(TIMEOUT)
        seen["up"] = bytes(reader.got)
        done.set()

    backend = servers(handler)
    p = Proxy(netpolld, backend, tmp_path, splice)
    s = client(p.port)
    sender = Sender(s, up)
    got, how = read_to_eof(s, expect_reset=True)
    sender.thread.join(TIMEOUT)
    assert not sender.thread.is_alive(), "the client's upload still blocks after the reset"
    s.close()

    assert done.wait(TIMEOUT)
    check_prefix(got, down[:seen["sent"]], f"download (ended by {how})")
    check_prefix(seen["up"], up, "upload")
    (line,) = p.d.wait_conns(1)
    assert line["end"] == "server_reset", line
    assert len(got) <= int(line["bytes_out"]) <= seen["sent"], (len(got), line, seen["sent"])
    p.settle()
    assert p.d.proc.poll() is None


@on_and_off
def test_client_reset_mid_transfer_ends_the_session_cleanly(netpolld, servers, tmp_path,
                                                            splice):
    """The mirror image: bulk both ways, the client resets after 4 MiB each
    way. The server's connection ends (EOF or reset) with a prefix of the
    upload; the log says client_reset; no pipe stays lent, no socket open."""
    up, down = data(16 * MiB), data(16 * MiB)
    reset_at = 4 * MiB
    seen, done = {}, threading.Event()

    def handler(conn):
        sender = Sender(conn, down, shut=False)
        seen["up"], seen["how"] = read_to_eof(conn, expect_reset=True)
        sender.thread.join(TIMEOUT)
        seen["sender_stuck"] = sender.thread.is_alive()
        done.set()
        conn.close()

    backend = servers(handler)
    p = Proxy(netpolld, backend, tmp_path, splice)
    s = client(p.port)
    reader = GatedReader(s, len(down))
    reader.allow(len(down))
    sender = Sender(s, up, pause_at=reset_at)
    wait_until(lambda: sender.sent >= reset_at and len(reader.got) >= reset_at,
               what="4 MiB each way")
    sender.stop()
    reader.stop()
    reset(s)
    reader.thread.join(TIMEOUT)
    got = bytes(reader.got)

    if not done.wait(TIMEOUT):
        conns = stats_query(p.sock, "show conns")[0]
        raise AssertionError("the server's connection stayed open after the client reset:\n"
                             f"{conns}\n{p.d.log()[-2000:]}")
    assert not seen["sender_stuck"], "the server's download still blocks after the reset"
    check_prefix(seen["up"], up[:sender.sent], f"upload (ended by {seen['how']})")
    check_prefix(got, down, "download")
    (line,) = p.d.wait_conns(1)
    assert line["end"] == "client_reset", line
    assert len(seen["up"]) <= int(line["bytes_in"]) <= sender.sent, (len(seen["up"]), line)
    p.settle()
    assert p.d.proc.poll() is None


# ---- small traffic -----------------------------------------------------------

@on_and_off
def test_small_request_response_stays_on_the_ring(netpolld, servers, tmp_path, splice):
    """1000 round trips of 100 bytes on one connection: every answer is
    exact, and no pipe is ever lent (small traffic stays on the ring)."""
    backend = servers(echo_handler)
    p = Proxy(netpolld, backend, tmp_path, splice)
    s = client(p.port)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    seen_pipes = []
    for i in range(1000):
        msg = i.to_bytes(4, "big") + os.urandom(96)
        s.sendall(msg)
        assert recv_exactly(s, len(msg)) == msg, f"round trip {i}"
        if i % 50 == 49:
            seen_pipes.append(p.pipes())
    s.close()
    assert seen_pipes == [0] * len(seen_pipes), \
        f"pipes_in_use during small request/response traffic: {seen_pipes}"
    (line,) = p.d.wait_conns(1)
    assert (int(line["bytes_in"]), int(line["bytes_out"])) == (100_000, 100_000), line
    p.settle(borrowed=0)


# ---- descriptors short -------------------------------------------------------

@pytest.mark.parametrize("limit", [64, 128])
def test_short_of_descriptors_bulk_transfers_stay_on_the_ring_and_arrive(
        netpolld, servers, tmp_path, limit):
    """With a low open-file limit (64: few descriptors beyond the
    connections' own; 128: room for some pipes, not one per direction), as
    many concurrent bulk transfers as the connection limit allows (at most
    16), 1 MiB each way: every byte arrives, no connection is refused or
    dropped, the daemon never runs out of descriptors, and once they are
    done no pipe is lent."""
    sizes = 1 * MiB
    results = {}

    def handler(conn):
        tag = recv_exactly(conn, 4)
        i = int.from_bytes(tag, "big")
        up, down = payloads[i]
        sender = Sender(conn, down)
        results[("up", i)] = read_to_eof(conn)
        sender.join()
        conn.close()

    backend = servers(handler, backlog=64)

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    p = Proxy(netpolld, backend, tmp_path, "on", start={"preexec_fn": low_limit})
    capacity = int(p.d.wait_log(r"info connection limit \d+ \(open-file limit %d\)" % limit)[0]
                   .split("connection limit ")[1].split()[0])
    n = min(capacity, 16)
    assert n >= 8, capacity
    payloads = [(data(sizes), data(sizes)) for _ in range(n)]
    pipes_seen = []

    def run(i):
        try:
            s = client(p.port)
            up, down = payloads[i]
            sender = Sender(s, i.to_bytes(4, "big") + up)
            results[("down", i)] = read_to_eof(s)
            sender.join()
            s.close()
        except BaseException as e:      # reported below
            results[("error", i)] = e

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()

    def finished():
        pipes_seen.append(p.pipes())
        return not any(t.is_alive() for t in threads)
    wait_until(finished, timeout=3 * TIMEOUT, interval=0.05, what="every transfer to finish")
    errors = {k: v for k, v in results.items() if k[0] == "error"}
    assert not errors, errors
    assert not backend.errors, backend.errors
    for i, (up, down) in enumerate(payloads):
        check_exact(results[("down", i)], down, f"download {i}")
        wait_until(lambda: ("up", i) in results, what=f"the server to read upload {i}")
        check_exact(results[("up", i)], up, f"upload {i}")
    lines = p.d.wait_conns(n)
    assert len(lines) == n
    for ln in lines:
        assert (int(ln["bytes_in"]), int(ln["bytes_out"])) == (4 + sizes, sizes), ln
        assert ln["end"] in ("client_close", "server_close"), ln
    # (Reaching the connection limit pauses accepts, by design; running
    # out of descriptors is another matter.)
    assert "Too many open files" not in p.d.log(), p.d.log()[-3000:]
    assert max(pipes_seen) <= 2 * n, pipes_seen     # a pipe per direction at most
    p.settle(borrowed=2 * n)


# ---- reload ----------------------------------------------------------------

@pytest.mark.parametrize("first", ["on", "off"])
def test_reload_flipping_splice_under_a_transfer_in_flight_delivers_exactly(
        netpolld, servers, tmp_path, first):
    """16 MiB each way, read in four steps on both ends; between the steps
    a reload flips splice (begun on: off, on, off; begun off: on, off, on)
    while both directions are stalled mid-transfer with bytes in the
    proxy. Every byte arrives, in order."""
    up, down = data(16 * MiB), data(16 * MiB)
    step = len(up) // 4
    ctl = {}

    def handler(conn):
        ctl["reader"] = GatedReader(conn, len(up))
        ctl["sender"] = Sender(conn, down)
        ctl["reader"].thread.join(4 * TIMEOUT)   # to EOF, as the test allows it
        ctl["sender"].join()
        conn.close()

    backend = servers(handler)
    p = Proxy(netpolld, backend, tmp_path, first)
    other = {"on": "off", "off": "on"}[first]
    s = client(p.port)
    reader = GatedReader(s, len(down))
    sender = Sender(s, up)
    wait_until(lambda: "sender" in ctl, what="the server to start")
    for k, mode in enumerate([other, first, other], 1):
        reader.allow(k * step)
        ctl["reader"].allow(k * step)
        reader.wait_for(k * step)
        ctl["reader"].wait_for(k * step)
        # Both ways, bytes are waiting between the ends (in the proxy).
        sender.wait_stalled(quiet=0.2)
        ctl["sender"].wait_stalled(quiet=0.2)
        assert sender.sent - k * step >= 256 * KiB, (k, sender.sent)
        assert ctl["sender"].sent - k * step >= 256 * KiB, (k, ctl["sender"].sent)
        if k == 1 and first == "on":
            # Begun with splice on and stalled: its bytes are in a pipe
            # when the reload turns splice off.
            wait_until(lambda: p.pipes() >= 1, what="a pipe lent to the stalled transfer")
        p.reload(mode, k)
    reader.allow(len(down))
    ctl["reader"].allow(len(up))
    check_exact(reader.join(), down, "download")
    sender.join()
    s.close()
    check_exact(ctl["reader"].join(), up, "upload")
    (line,) = p.d.wait_conns(1)
    assert (int(line["bytes_in"]), int(line["bytes_out"])) == (len(up), len(down)), line
    p.settle()
    assert not backend.errors, backend.errors
