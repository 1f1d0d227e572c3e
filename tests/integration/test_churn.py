"""Connection churn: hundreds of connections that end in every way a TCP
connection can end. Afterwards the proxy holds nothing but its listeners,
and each connection left exactly one log line naming how it ended."""
import collections
import concurrent.futures
import random
import socket
import time

from conftest import TIMEOUT, connect, free_port, recv_all, recv_exactly, reset, wait_until

HEADER = 16             # the backend reads this many bytes to learn the kind
PAYLOAD = 3000          # bytes sent by the kinds that send any


def churn_handler(conn):
    """A backend that behaves as the client's fixed-size header asks."""
    header = b""
    while len(header) < HEADER:
        b = conn.recv(HEADER - len(header))
        if not b:               # connected and closed without a byte
            conn.close()
            return
        header += b
    kind = header.decode().strip()
    if kind in ("client_close", "client_reset"):
        try:
            while True:
                b = conn.recv(1 << 16)
                if not b:
                    break
                conn.sendall(b)
        except ConnectionResetError:
            pass
        conn.close()
    elif kind == "server_close":
        # Everything the client sent has been read, so close() sends a FIN
        # (unread bytes would turn it into a RST).
        conn.sendall(b"bye\n")
        conn.close()
    elif kind == "server_reset":
        reset(conn)
    elif kind == "half_close":
        n = 0
        while True:
            b = conn.recv(1 << 16)
            if not b:
                break
            n += len(b)
        conn.sendall(f"got {n}\n".encode())
        conn.close()
    else:
        raise AssertionError(f"unknown kind {kind!r}")


def header(kind):
    return kind.encode().ljust(HEADER)


def payload(i):
    return bytes((i + k) % 251 for k in range(PAYLOAD))


# What each kind must be logged as, and its bytes_in / bytes_out. Each is
# deterministic: the side named closes first in every interleaving,
# because the other side only acts after it has seen that side's bytes.
EXPECT = {
    "client_close": ("client_close", HEADER + PAYLOAD, PAYLOAD),
    "client_reset": ("client_reset", HEADER + PAYLOAD, PAYLOAD),
    "server_close": ("server_close", HEADER, 4),
    "server_reset": ("server_reset", HEADER, 0),
    # The client's FIN comes first; the answer still flows after it.
    "half_close": ("client_close", HEADER + PAYLOAD, len(f"got {PAYLOAD}\n")),
    "silent_close": ("client_close", 0, 0),
    # A RST while the proxy is still connecting ends it at once.
    "connecting_reset": ("client_reset", 0, 0),
    # A FIN while connecting is a half-close: the client may still want
    # the answer, so the proxy keeps trying until the connect times out.
    "connecting_close": ("connect_timeout", 0, 0),
}
SLOW = ("connecting_reset", "connecting_close")


def run_client(kind, i, port, slow_port):
    """One connection of KIND; returns its local port for matching the
    log line, after checking what the client itself must see."""
    s = connect(slow_port if kind in SLOW else port)
    local = s.getsockname()[1]
    data = payload(i)
    if kind == "client_close":
        s.sendall(header(kind) + data)
        assert recv_exactly(s, PAYLOAD) == data
        s.close()
    elif kind == "client_reset":
        s.sendall(header(kind) + data)
        assert recv_exactly(s, PAYLOAD) == data
        reset(s)
    elif kind == "server_close":
        s.sendall(header(kind))
        assert recv_all(s) == b"bye\n"
        s.close()
    elif kind == "server_reset":
        s.sendall(header(kind))
        # The proxy passes the end on as a close; whether the client sees
        # FIN or RST depends on what is still unread in its socket.
        try:
            assert recv_all(s) == b""
        except ConnectionResetError:
            pass
        s.close()
    elif kind == "half_close":
        s.sendall(header(kind) + data)
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s) == f"got {PAYLOAD}\n".encode()
        s.close()
    elif kind == "silent_close":
        s.close()
    elif kind == "connecting_reset":
        reset(s)
    elif kind == "connecting_close":
        s.close()
    return local


def churn_conf(port, pool, slow_port, hole):
    return f"""
global = {{ log_level = "info"; log_connections = true; }};
listeners = (
  {{ name = "front"; listen = "127.0.0.1:{port}"; backend = "pool"; }},
  {{ name = "slow"; listen = "127.0.0.1:{slow_port}"; backend = "slowpool"; }}
);
backends = (
  {{ name = "pool"; connect_timeout = "5s"; retries = 0;
     servers = ( {{ address = "{pool}"; }} ); }},
  {{ name = "slowpool"; connect_timeout = "1s"; retries = 0;
     servers = ( {{ address = "{hole}"; }} ); }}
);
"""


def test_churn_of_mixed_endings_leaves_no_fd_no_close_wait_and_one_line_each(
        netpolld, servers, blackhole):
    pool = servers(churn_handler)
    hole = blackhole()
    port, slow_port = free_port(), free_port()
    d = netpolld(churn_conf(port, pool.address, slow_port, hole.address))
    baseline = d.fd_count()

    kinds = [k for k in EXPECT if k not in SLOW] * 95 + list(SLOW) * 15
    random.Random(7).shuffle(kinds)
    assert len(kinds) == 600
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as ex:
        futures = [ex.submit(run_client, k, i, port, slow_port) for i, k in enumerate(kinds)]
        locals_ = [f.result(timeout=TIMEOUT * 3) for f in futures]
    elapsed = time.monotonic() - started

    lines = d.wait_conns(len(kinds), timeout=TIMEOUT)
    # Exactly one line per connection: as many lines as connections, each
    # id once, and (below) each client port matched to its own line.
    assert len(lines) == len(kinds)
    assert sorted(int(ln["conn"]) for ln in lines) == list(range(1, len(kinds) + 1))

    expected = collections.Counter()
    for kind, lport in zip(kinds, locals_):
        end, bin_, bout = EXPECT[kind]
        listener = "slow" if kind in SLOW else "front"
        server = "-" if kind in SLOW else pool.address
        expected[(lport, listener, server, end, bin_, bout)] += 1
    got = collections.Counter(
        (int(ln["client"].rsplit(":", 1)[1]), ln["listener"], ln["server"], ln["end"],
         int(ln["bytes_in"]), int(ln["bytes_out"])) for ln in lines)
    missing, extra = expected - got, got - expected
    assert not missing and not extra, (
        f"lines expected but not logged: {sorted(missing.items())[:10]}\n"
        f"lines logged but not expected: {sorted(extra.items())[:10]}")
    ends = collections.Counter(ln["end"] for ln in lines)
    assert ends["connect_timeout"] == 15 and ends["client_reset"] == 95 + 15

    # The proxy lets go of everything: its fd count returns to where it
    # was with only the listeners open, and nothing lingers in CLOSE_WAIT
    # (a socket whose peer left but which the proxy never closed).
    wait_until(lambda: d.fd_count() == baseline, what=f"fd count back to {baseline}")
    states = d.socket_states()
    assert "08" not in states, states
    assert sorted(states) == ["0A", "0A"], states   # the two listeners
    assert pool.errors == []
    assert d.proc.poll() is None
    # Sanity for whoever reads a slow run: the churn itself is quick.
    assert elapsed < TIMEOUT * 3
