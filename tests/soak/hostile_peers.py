"""The peers tests/soak/hostile.py runs in processes of their own, so that
neither competes with the hostile clients for the interpreter:

  hostile_peers.py echo            an epoll echo server on 127.0.0.1 (the
                                   proxy's backend); prints `port N`, serves
                                   until its stdin closes
  hostile_peers.py good PORT       the well-behaved client of the "good"
                                   listener: short connections (connect,
                                   send, receive, close) and one persistent
                                   connection doing ping-pong, each round
                                   trip timed; reads `pause`, `resume`,
                                   `report` and `stop` lines on stdin and
                                   answers each with one line (`report`
                                   and `stop`: the samples taken since the
                                   last report, as one JSON array)

Python 3 standard library only; loopback only."""
import errno
import json
import os
import random
import resource
import select
import socket
import sys
import threading
import time

# A round trip slower than this is a failure, not a latency.
OP_TIMEOUT = float(os.environ.get("HOSTILE_OP_TIMEOUT", "15"))
SHORT_PAYLOAD = 64
PING_PAYLOAD = 16
# Pacing: enough samples per phase, few TIME_WAIT ports per second.
SHORT_EVERY_S = 0.02
PING_EVERY_S = 0.01


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ---- echo -------------------------------------------------------------------

class Echo:
    """Echoes every connection's bytes back; reading a connection stops
    while its echo is pending (bounded memory), and a FIN is answered
    with a FIN once everything went back."""

    def __init__(self):
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(4096)
        self.lsock.setblocking(False)
        self.ep = select.epoll()
        self.ep.register(self.lsock.fileno(), select.EPOLLIN)
        self.ep.register(sys.stdin.fileno(), select.EPOLLIN | select.EPOLLHUP)
        self.conns = {}     # fd -> [socket, pending bytes, eof seen]

    def drop(self, fd):
        s = self.conns.pop(fd)[0]
        try:
            self.ep.unregister(fd)
        except OSError:
            pass
        s.close()

    def want(self, fd):
        c = self.conns[fd]
        self.ep.modify(fd, select.EPOLLOUT if c[1] else select.EPOLLIN)

    def accept_all(self):
        while True:
            try:
                s, _ = self.lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE):
                    time.sleep(0.01)
                return
            s.setblocking(False)
            self.conns[s.fileno()] = [s, b"", False]
            self.ep.register(s.fileno(), select.EPOLLIN)

    def serve(self, fd):
        """Sends what is pending for FD, or reads and echoes what came."""
        c = self.conns.get(fd)
        if c is None:
            return
        s = c[0]
        try:
            if c[1]:
                n = s.send(c[1])
                c[1] = c[1][n:]
            else:
                b = s.recv(1 << 16)
                if not b:
                    c[2] = True
                else:
                    n = 0
                    try:
                        n = s.send(b)
                    except BlockingIOError:
                        pass
                    c[1] = b[n:]
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.drop(fd)
            return
        if c[2] and not c[1]:
            self.drop(fd)
            return
        self.want(fd)

    def run(self):
        """Serves until stdin closes."""
        while True:
            for fd, ev in self.ep.poll(1.0):
                if fd == sys.stdin.fileno():
                    if not os.read(fd, 4096):
                        for cfd in list(self.conns):
                            self.drop(cfd)
                        return
                elif fd == self.lsock.fileno():
                    self.accept_all()
                else:
                    self.serve(fd)


def echo_main():
    raise_nofile()
    echo = Echo()
    print(f"port {echo.lsock.getsockname()[1]}", flush=True)
    echo.run()


# ---- the well-behaved client --------------------------------------------------

class Good:
    def __init__(self, port):
        self.port = port
        self.samples = []           # [kind, t_start, rtt_ms or None, error or None]
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.run_short = threading.Event()
        self.run_short.set()
        self.short_idle = threading.Event()     # set while the short loop waits paused
        self.rng = random.Random(os.getpid())

    def record(self, kind, t0, rtt, err=None):
        with self.lock:
            self.samples.append([kind, t0, rtt, err])

    def take(self):
        """The samples since the last call."""
        with self.lock:
            out, self.samples = self.samples, []
        return out

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=OP_TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    @staticmethod
    def recv_exactly(s, n):
        buf = b""
        while len(buf) < n:
            b = s.recv(n - len(buf))
            if not b:
                raise ConnectionError(f"EOF after {len(buf)} of {n} bytes")
            buf += b
        return buf

    def echo_rtt(self, s, data, t0):
        """Sends DATA on S and waits for its echo: the ms since T0."""
        s.sendall(data)
        got = self.recv_exactly(s, len(data))
        rtt = (time.monotonic() - t0) * 1000
        if got != data:
            raise ValueError("echo differs")
        return rtt

    def short_once(self):
        data = self.rng.randbytes(SHORT_PAYLOAD)
        t0 = time.monotonic()
        try:
            with self.connect() as s:
                rtt = self.echo_rtt(s, data, t0)
                s.shutdown(socket.SHUT_WR)
                if s.recv(1) != b"":
                    raise ValueError("bytes after the echo")
            self.record("short", t0, rtt)
        except Exception as e:      # every failure is a sample
            self.record("short", t0, None, f"{type(e).__name__}: {e}")

    def short_loop(self):
        while not self.stop.is_set():
            if not self.run_short.is_set():
                self.short_idle.set()
                self.run_short.wait(0.1)
                continue
            self.short_idle.clear()
            self.short_once()
            self.stop.wait(SHORT_EVERY_S)
        self.short_idle.set()

    def ping_loop(self):
        s = None
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                if s is None:
                    s = self.connect()
                    t0 = time.monotonic()
                rtt = self.echo_rtt(s, self.rng.randbytes(PING_PAYLOAD), t0)
                self.record("ping", t0, rtt)
            except Exception as e:
                self.record("ping", t0, None, f"{type(e).__name__}: {e}")
                if s is not None:
                    s.close()
                s = None
            self.stop.wait(PING_EVERY_S)
        if s is not None:
            try:
                s.shutdown(socket.SHUT_WR)
                s.settimeout(OP_TIMEOUT)
                s.recv(1)
            except OSError:
                pass
            s.close()


def good_main(port):
    raise_nofile()
    g = Good(port)
    threads = [threading.Thread(target=g.short_loop, daemon=True),
               threading.Thread(target=g.ping_loop, daemon=True)]
    for t in threads:
        t.start()
    print("started", flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "pause":
            g.run_short.clear()
            g.short_idle.wait(OP_TIMEOUT + 5)
            print("paused", flush=True)
        elif cmd == "resume":
            g.run_short.set()
            print("resumed", flush=True)
        elif cmd == "report":
            print(json.dumps(g.take()), flush=True)
        elif cmd == "stop":
            break
    g.stop.set()
    g.run_short.set()
    for t in threads:
        t.join(OP_TIMEOUT + 5)
    print(json.dumps(g.take()), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["echo"]:
        echo_main()
    elif sys.argv[1:2] == ["good"] and len(sys.argv) == 3:
        good_main(int(sys.argv[2]))
    else:
        sys.exit("usage: hostile_peers.py echo | good PORT")
