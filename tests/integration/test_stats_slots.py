"""The stats socket's client limit (netpolld(8) STATS SOCKET, Protocol: at
most 16 clients) cannot be held by clients that are done: after `quit`
the daemon closes its side, and a client that never closes its own is
dropped after a short grace period, so its slot comes back long before
the 60 second idle limit."""
import socket

from conftest import (TIMEOUT, conf_text, echo_handler, free_port, stats_query,
                      wait_until)

MAX_CLIENTS = 16


def test_clients_that_quit_but_never_close_give_their_slots_back(netpolld, servers, tmp_path):
    echo = servers(echo_handler)
    sock = str(tmp_path / "stats.sock")
    d = netpolld(conf_text(f"127.0.0.1:{free_port()}", echo.address,
                           global_={"stats_socket": f'"{sock}"'}))
    baseline = d.fd_count()
    lingering = []
    try:
        for _ in range(MAX_CLIENTS):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(TIMEOUT)
            s.connect(sock)
            s.sendall(b"show info\nquit\n")
            lingering.append(s)
        for s in lingering:
            buf = b""
            while True:             # the answer, then the daemon's FIN
                b = s.recv(1 << 16)
                if not b:
                    break
                buf += b
            assert buf.startswith(b"version: ") and buf.endswith(b"\n\n"), buf
        # They never close: the daemon lets go of them on its own...
        wait_until(lambda: d.fd_count() == baseline,
                   what="the lingering clients' descriptors to be closed")
        # ...and a new client is served, not closed at once as a 17th.
        (answer,) = stats_query(sock, "show info")
        assert answer.startswith("version: "), answer
    finally:
        for s in lingering:
            s.close()
