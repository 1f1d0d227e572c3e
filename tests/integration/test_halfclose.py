"""Half-close, close and reset: a FIN from one side reaches the other only
after every byte before it, the other direction keeps flowing, bytes the
proxy holds are delivered before it closes, and a reset ends the session
with the right reason."""
import array
import fcntl
import os
import socket
import termios
import threading
import time

import pytest

from conftest import (TIMEOUT, conf_text, connect, free_port, recv_all, recv_exactly,
                      reset, wait_until)

MiB = 1 << 20


def read_to_eof(conn):
    """Everything CONN sends until its FIN; raises on a reset."""
    buf = bytearray()
    while True:
        b = conn.recv(1 << 16)
        if not b:
            return bytes(buf)
        buf += b


def unsent_or_unacked(sock):
    """Bytes in SOCK's send queue the peer's kernel has not acknowledged."""
    n = array.array("i", [0])
    fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, n)
    return n[0]


def wait_delivered(sock):
    """Waits until the peer's kernel has acknowledged everything SOCK sent:
    from then on those bytes are in the peer's receive queue (or read)."""
    wait_until(lambda: unsent_or_unacked(sock) == 0, what="the peer to acknowledge all bytes")


def proxy(netpolld, backend, **kw):
    port = free_port()
    return netpolld(conf_text(f"127.0.0.1:{port}", backend.address, **kw)), port


def test_client_half_close_reaches_backend_after_all_bytes_and_reply_flows_back(netpolld, servers):
    request, reply = os.urandom(1 * MiB), os.urandom(2 * MiB)
    seen = {}

    def handler(conn):
        seen["request"] = read_to_eof(conn)   # recv() returned b'': the FIN came
        conn.sendall(reply)                   # after the FIN, the other way
        conn.close()

    backend = servers(handler)
    d, port = proxy(netpolld, backend)

    s = connect(port)
    s.sendall(request)
    s.shutdown(socket.SHUT_WR)
    got = recv_all(s)                         # the whole reply, then EOF
    s.close()

    assert seen.get("request") == request, "the backend saw EOF before all the bytes"
    assert len(got) == len(reply) and got == reply
    (line,) = d.wait_conns(1)
    assert (int(line["bytes_in"]), int(line["bytes_out"])) == (len(request), len(reply))
    assert line["end"] == "client_close"
    assert not backend.errors


def test_server_half_close_reaches_client_and_client_bytes_still_flow(netpolld, servers):
    greeting, late = os.urandom(512 * 1024), os.urandom(512 * 1024)
    seen, done = {}, threading.Event()

    def handler(conn):
        conn.sendall(greeting)
        conn.shutdown(socket.SHUT_WR)         # half-close, keep reading
        seen["late"] = read_to_eof(conn)
        done.set()
        conn.close()

    backend = servers(handler)
    d, port = proxy(netpolld, backend)

    s = connect(port)
    assert recv_all(s) == greeting            # the data, then the server's FIN
    s.sendall(late)                           # the client's direction still flows
    s.shutdown(socket.SHUT_WR)
    assert done.wait(TIMEOUT), "the backend never saw the client's FIN"
    s.close()

    assert seen["late"] == late
    (line,) = d.wait_conns(1)
    assert (int(line["bytes_in"]), int(line["bytes_out"])) == (len(late), len(greeting))
    assert line["end"] == "server_close"
    assert not backend.errors


@pytest.mark.parametrize("reader", ["fast", "slow"])
def test_backend_close_after_large_write_delivers_every_byte_then_eof(netpolld, servers, reader):
    """The backend's FIN arrives while the proxy still holds (or has not even
    read) megabytes for the client: they all come first, then a clean EOF."""
    payload = os.urandom(4 * MiB)

    def handler(conn):
        conn.sendall(payload)
        conn.close()                          # at once, nothing unread: a FIN

    backend = servers(handler)
    d, port = proxy(netpolld, backend)

    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if reader == "slow":
        # A small window: the backend's FIN waits behind data the proxy
        # cannot pass on yet, for most of the transfer.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    s.settimeout(TIMEOUT)
    s.connect(("127.0.0.1", port))
    got = bytearray()
    try:
        while True:
            b = s.recv(16 * 1024 if reader == "slow" else 1 << 16)
            if not b:
                break
            got += b
            if reader == "slow":
                time.sleep(0.001)
    except ConnectionResetError:
        pytest.fail(f"reset after {len(got)} of {len(payload)} bytes")
    s.close()

    assert len(got) == len(payload) and got == payload
    (line,) = d.wait_conns(1)
    assert int(line["bytes_out"]) == len(payload)
    assert line["end"] == "server_close"
    assert not backend.errors


def test_client_close_with_bytes_in_flight_to_a_paused_backend_delivers_them(netpolld, servers):
    """The client writes 1 MiB and closes while the backend is not reading:
    the proxy must deliver it all once the backend reads, then the FIN."""
    payload = os.urandom(1 * MiB)
    release, done = threading.Event(), threading.Event()
    seen = {}

    def handler(conn):
        assert release.wait(3 * TIMEOUT)
        seen["data"] = read_to_eof(conn)
        done.set()
        conn.close()

    backend = servers(handler)
    d, port = proxy(netpolld, backend)

    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * MiB)   # room for all of it
    s.settimeout(TIMEOUT)
    s.connect(("127.0.0.1", port))
    wait_until(lambda: backend.accepted == 1, what="the backend to accept")
    s.sendall(payload)
    s.close()                                 # while the backend is paused

    release.set()
    assert done.wait(TIMEOUT), "the backend never saw the client's FIN"
    assert len(seen["data"]) == len(payload) and seen["data"] == payload
    (line,) = d.wait_conns(1)
    assert int(line["bytes_in"]) == len(payload)
    assert line["end"] == "client_close"
    assert not backend.errors


def test_backend_reset_after_reply_delivers_what_reached_the_proxy(netpolld, servers):
    """The backend sends a reply in two parts and resets right after the
    second. The second part is acknowledged by the proxy's kernel before
    the RST is sent, so it reached the proxy: the client gets both parts."""
    first, second = os.urandom(64 * 1024), os.urandom(32 * 1024)
    client_has_first = threading.Event()
    sent_reset = threading.Event()

    def handler(conn):
        conn.sendall(first)
        assert client_has_first.wait(TIMEOUT)
        conn.sendall(second)
        wait_delivered(conn)
        reset(conn)
        sent_reset.set()

    backend = servers(handler)
    d, port = proxy(netpolld, backend)

    s = connect(port)
    assert recv_exactly(s, len(first)) == first
    client_has_first.set()
    assert sent_reset.wait(TIMEOUT)
    rest = bytearray()
    try:
        while True:
            b = s.recv(1 << 16)
            if not b:
                break
            rest += b
    except ConnectionResetError:
        pass    # passing the reset on is fine, once the bytes are delivered
    s.close()

    assert len(rest) == len(second) and rest == second, \
        f"got {len(rest)} of the {len(second)} bytes that reached the proxy before the reset"
    (line,) = d.wait_conns(1)
    assert int(line["bytes_out"]) == len(first) + len(second)
    assert line["end"] == "server_reset"
    assert not backend.errors


def test_client_reset_ends_session_and_closes_backend(netpolld, servers):
    """The client sends data and resets. What the proxy's kernel had
    acknowledged still reaches the backend, which then sees its connection
    closed; the log says client_reset."""
    payload = os.urandom(256 * 1024)
    seen, done = {}, threading.Event()

    def handler(conn):
        buf = bytearray()
        try:
            while True:
                b = conn.recv(1 << 16)
                if not b:
                    seen["end"] = "eof"
                    break
                buf += b
        except ConnectionResetError:
            seen["end"] = "reset"
        seen["data"] = bytes(buf)
        done.set()
        conn.close()

    backend = servers(handler)
    d, port = proxy(netpolld, backend)

    s = connect(port)
    s.sendall(payload)
    wait_delivered(s)
    reset(s)

    assert done.wait(TIMEOUT), "the backend's connection stayed open after the client reset"
    assert seen["end"] in ("eof", "reset")
    assert len(seen["data"]) == len(payload) and seen["data"] == payload
    (line,) = d.wait_conns(1)
    assert int(line["bytes_in"]) == len(payload)
    assert line["end"] == "client_reset"
    assert not backend.errors


# Bytes the proxy's kernel has acknowledged have reached the proxy, even if
# the proxy has not read them yet: a reset that follows must not lose them.
# The tests below fill the proxy in both directions before the reset, so
# that it learns of the reset while it has bytes to write to that side.

class Pusher:
    """Sends DATA on SOCK from a thread until done, or until SOCK fails
    (expected once the proxy closes it); counts what the kernel took."""

    def __init__(self, sock, data):
        self.sock, self.data, self.sent, self.error = sock, data, 0, None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while self.sent < len(self.data):
                self.sent += self.sock.send(self.data[self.sent:self.sent + (1 << 16)])
        except OSError as e:
            self.error = e

    def wait_stalled(self, quiet=0.3):
        last = {"sent": -1, "at": time.monotonic()}

        def still():
            if self.sent != last["sent"]:
                last["sent"], last["at"] = self.sent, time.monotonic()
                return False
            return time.monotonic() - last["at"] >= quiet
        wait_until(still, interval=0.02, what="the push to stall")
        assert self.thread.is_alive() and self.sent < len(self.data), "nothing throttled the push"


def push_until_stalled(sock, data, quiet=0.3):
    """Sends DATA on non-blocking SOCK until the peer stops taking bytes;
    returns how many the peer's kernel has acknowledged at that point."""
    sock.setblocking(False)
    sent, last, since = 0, None, time.monotonic()
    deadline = since + TIMEOUT
    while time.monotonic() < deadline:
        try:
            k = sock.send(data[sent:sent + (1 << 16)])
            assert k > 0, "nothing throttled the push"
            sent += k
            continue
        except BlockingIOError:
            pass
        state = (sent, unsent_or_unacked(sock))
        if state != last:
            last, since = state, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return sent - unsent_or_unacked(sock)
        time.sleep(0.01)
    raise AssertionError("the push never stalled")


def quiet_shutdown(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass        # not connected any more: nothing blocks on it


def read_until_closed(sock):
    """What SOCK receives until EOF or a reset."""
    got = bytearray()
    try:
        while True:
            b = sock.recv(1 << 16)
            if not b:
                break
            got += b
    except ConnectionResetError:
        pass
    return bytes(got)


def test_backend_reset_loses_no_acknowledged_byte_while_client_uploads(netpolld, servers):
    """The client uploads to a backend that never reads, and does not read
    the backend's reply yet; the backend sends until the proxy takes no more
    and resets. Every reply byte the proxy's kernel acknowledged must reach
    the client (they are in the proxy's socket, readable before the reset
    is reported)."""
    # More than every buffer on the way holds (spliced pages are counted
    # leniently against send buffers: around 12 MB fit on loopback).
    reply = os.urandom(48 * MiB)
    upload_stalled, backend_done = threading.Event(), threading.Event()
    seen = {}

    def handler(conn):
        assert upload_stalled.wait(TIMEOUT)
        seen["acked"] = push_until_stalled(conn, reply)
        reset(conn)
        backend_done.set()

    backend = servers(handler)
    d, port = proxy(netpolld, backend)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.settimeout(TIMEOUT)
    s.connect(("127.0.0.1", port))
    upload = Pusher(s, os.urandom(48 * MiB))
    upload.wait_stalled()
    upload_stalled.set()
    assert backend_done.wait(2 * TIMEOUT)

    got = read_until_closed(s)
    quiet_shutdown(s)                         # wakes the upload if still blocked
    upload.thread.join(TIMEOUT)
    s.close()
    assert got == reply[:len(got)], "the reply arrived corrupted"
    assert len(got) >= seen["acked"], \
        f"the client got {len(got)} bytes; the proxy had acknowledged {seen['acked']}"
    (line,) = d.wait_conns(1)
    assert line["end"] == "server_reset"


def test_client_reset_loses_no_acknowledged_byte_while_backend_sends(netpolld, servers):
    """The mirror image: the backend sends to a client that does not read,
    and reads nothing itself yet; the client sends until the proxy takes no
    more and resets. Every byte the proxy's kernel acknowledged from the
    client must reach the backend."""
    upload = os.urandom(48 * MiB)      # more than the buffers on the way hold
    release, done = threading.Event(), threading.Event()
    seen = {}

    def handler(conn):
        seen["push"] = Pusher(conn, os.urandom(48 * MiB))
        assert release.wait(2 * TIMEOUT)
        seen["got"] = read_until_closed(conn)
        done.set()
        quiet_shutdown(conn)                  # wakes the pusher if still blocked
        seen["push"].thread.join(TIMEOUT)
        conn.close()

    backend = servers(handler)
    d, port = proxy(netpolld, backend)
    s = connect(port)
    wait_until(lambda: "push" in seen, what="the backend to start sending")
    seen["push"].wait_stalled()
    acked = push_until_stalled(s, upload)
    reset(s)
    release.set()

    assert done.wait(TIMEOUT), "the backend's connection stayed open after the client reset"
    got = seen["got"]
    assert got == upload[:len(got)], "the upload arrived corrupted"
    assert len(got) >= acked, f"the backend got {len(got)} bytes; the proxy had acknowledged {acked}"
    (line,) = d.wait_conns(1)
    assert line["end"] == "client_reset"


def test_backend_close_after_large_write_delivers_every_byte_while_client_keeps_sending(
        netpolld, servers):
    """A backend answers a request with 4 MiB and closes cleanly (all of it
    acknowledged by the proxy first). The client reads slowly and, like a
    pipelining client, keeps sending small requests meanwhile; the backend's
    kernel answers those with a reset since the socket is closed. The client
    must still get all 4 MiB the proxy took, then EOF."""
    payload = os.urandom(4 * MiB)
    closed = threading.Event()

    def handler(conn):
        assert recv_exactly(conn, 5) == b"GET\r\n"
        conn.sendall(payload)
        wait_delivered(conn)                  # all 4 MiB are in the proxy
        conn.close()                          # nothing unread: a clean FIN
        closed.set()

    backend = servers(handler)
    d, port = proxy(netpolld, backend)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    s.settimeout(TIMEOUT)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET\r\n")
    stop = threading.Event()

    def keep_sending():
        assert closed.wait(TIMEOUT)
        try:
            while not stop.is_set():
                s.sendall(b"GET\r\n")
                time.sleep(0.001)
        except OSError:
            pass                              # the server is gone: fine
    talker = threading.Thread(target=keep_sending, daemon=True)
    talker.start()

    got = bytearray()
    try:
        while True:
            b = s.recv(16 * 1024)
            if not b:
                break
            got += b
            time.sleep(0.001)
    except ConnectionResetError:
        pass
    stop.set()
    talker.join(TIMEOUT)
    s.close()

    assert got == payload[:len(got)], "the reply arrived corrupted"
    assert len(got) == len(payload), f"the client got {len(got)} of {len(payload)} bytes"
    (line,) = d.wait_conns(1)
    assert line["end"] in ("server_close", "server_reset")
    assert int(line["bytes_out"]) == len(payload)


def test_lingering_close_keeps_unacknowledged_bytes_when_the_peer_talks_back(netpolld):
    """The client sends, then resets; the proxy still owes the (paused)
    backend bytes its kernel has not acknowledged. Closing the backend
    socket then would let the backend's next write be answered with a
    reset that destroys them: the session must linger until the backend
    has them all, reading and dropping what the backend says meanwhile."""
    payload = os.urandom(24 * 1024)
    release, got = threading.Event(), {}
    # A tiny receive window, fixed before listen(), so most of the payload
    # waits unacknowledged in the proxy's send queue.
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)

    def backend():
        conn, _ = lsock.accept()
        conn.settimeout(TIMEOUT)
        assert release.wait(TIMEOUT)
        conn.sendall(b"hello")          # talking back after the proxy's FIN
        got["bytes"] = read_to_eof(conn)
        conn.close()
    t = threading.Thread(target=backend, daemon=True)
    t.start()
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", f"127.0.0.1:{lsock.getsockname()[1]}",
                           listener={"idle_timeout": '"30s"'}), args=("-l", "debug"))
    c = connect(port)
    c.sendall(payload)
    wait_delivered(c)                   # all of it is the proxy's now
    reset(c)
    d.wait_log(r"FLUSHING -> LINGERING$")
    release.set()
    t.join(TIMEOUT)
    lsock.close()
    assert got.get("bytes") == payload, f"backend got {len(got.get('bytes', b''))} bytes"
    (line,) = d.wait_conns(1)
    assert line["end"] == "client_reset", line
    assert line["bytes_in"] == str(len(payload)), line
