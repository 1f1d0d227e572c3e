"""The client sockets of the hostile run: non-blocking connects by the
thousand and the wait for them to settle, closes by reset (a flood
leaves no TIME_WAIT port behind), and one-shot clients of the stats
socket and the metrics endpoint."""
import select
import socket
import struct

from hostile_util import TIMEOUT, now
import netpolld_testlib
from netpolld_testlib import recv_all, unix_connect

TCP_ESTABLISHED = 1


def nb_connect(port, host="127.0.0.1", rcvbuf=None, sndbuf=None):
    """A non-blocking connect to PORT, in flight."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if sndbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    s.setblocking(False)
    s.connect_ex((host, port))
    return s


def unix_nonblocking(path):
    """A connected, non-blocking client of the stats socket at PATH."""
    s = unix_connect(path, timeout=None)
    s.setblocking(False)
    return s


def rst_close(s):
    """Closes S with a reset: a flood leaves no TIME_WAIT port behind."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


def open_many(port, n, errors=None):
    """N non-blocking connects to PORT, as fast as they go. A connect
    that cannot even start (no port, no fd) is counted in ERRORS."""
    socks = []
    for _ in range(n):
        try:
            socks.append(nb_connect(port))
        except OSError as e:
            if errors is not None:
                errors[e.strerror] += 1
    return socks


def settle(socks, timeout, quiet):
    """Waits for the connects of SOCKS: until all are done, nothing new
    has completed for QUIET seconds, or TIMEOUT. Returns (established,
    failed, pending); pending ones are those whose SYN the kernel keeps
    retrying (a full accept queue drops SYNs)."""
    ep = select.epoll()
    by_fd = {s.fileno(): s for s in socks}
    for fd in by_fd:
        ep.register(fd, select.EPOLLOUT)
    result = {}
    deadline = now() + timeout
    last = now()
    while len(result) < len(by_fd) and now() < deadline and now() - last < quiet:
        for fd, _ in ep.poll(0.05, 4096):
            ep.unregister(fd)
            result[fd] = by_fd[fd].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            last = now()
    ep.close()
    est = [s for fd, s in by_fd.items() if result.get(fd) == 0]
    failed = [s for fd, s in by_fd.items() if result.get(fd, 0) != 0]
    pending = [s for fd, s in by_fd.items() if fd not in result]
    return est, failed, pending


def settle_keep(socks, timeout=TIMEOUT, quiet=3.0):
    """settle(SOCKS), and the failed and pending ones closed: only the
    established ones stay open. Returns (established, failed, pending)."""
    est, failed, pending = settle(socks, timeout=timeout, quiet=quiet)
    for s in failed + pending:
        s.close()
    return est, failed, pending


def tcp_state(s):
    """The kernel's TCP state of S (1 ESTABLISHED, 8 CLOSE_WAIT, ...):
    whether the peer closed or reset it, without reading from S."""
    return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


def stats_query(path, *commands, timeout=TIMEOUT):
    """COMMANDS on one connection to the stats socket; their answers. The
    socket closing early is a ConnectionError, an OSError the phases'
    polls retry on."""
    return netpolld_testlib.stats_query(path, *commands, timeout=timeout, error=ConnectionError)


def parse_stat(text):
    """`show stat` as {(type, name): row}."""
    lines = text.splitlines()
    cols = lines[0][2:].split(",")
    return {(r["type"], r["name"]): r
            for r in (dict(zip(cols, ln.split(","))) for ln in lines[1:])}


def http_get(port, path, timeout=TIMEOUT):
    """(status, body) of GET PATH on the metrics endpoint."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head, _, body = recv_all(s, timeout).partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 "):
        raise ConnectionError(f"no HTTP answer: {head[:40]!r}")
    return int(head.split()[1]), body
