"""Unix socket paths as netpolld.conf(5) and netpolld(8) describe them: a
socket file left at a listen or stats_socket path that nobody accepts on
is replaced; a live one, or a path that is not a socket, makes the start
fail with exit 3 and is left alone; the daemon's own files are removed at
stop. And unix: servers under active health checks: a missing socket
file or one nobody listens on takes a server DOWN with the reason, a
listening one brings it UP, and only UP servers get clients."""
import os
import re
import socket
import subprocess

import pytest

from conftest import (BINARY, TIMEOUT, conf_text, echo_handler, free_port, parse_stat,
                      recv_exactly, stats_query, wait_until, write_config)

EXIT_STARTUP = 3


def unix_connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect(path)
    return s


def unix_echo(path, payload):
    with unix_connect(path) as s:
        s.sendall(payload)
        return recv_exactly(s, len(payload))


def stale_socket_file(path):
    """A socket file nobody accepts on, as a crashed process leaves it."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()
    assert os.path.exists(path)


def start_fails(tmp_path, text):
    """Runs the daemon on TEXT, which must fail its start; returns (exit
    code, stderr)."""
    conf = str(tmp_path / "fails.conf")
    write_config(conf, text)
    p = subprocess.run([BINARY, "-c", conf], capture_output=True, text=True, timeout=TIMEOUT)
    return p.returncode, p.stderr


def test_left_over_socket_files_are_replaced_and_removed_at_stop(netpolld, servers, tmp_path):
    echo = servers(echo_handler)
    front, stats = str(tmp_path / "front.sock"), str(tmp_path / "stats.sock")
    stale_socket_file(front)
    stale_socket_file(stats)
    d = netpolld(conf_text(f"unix:{front}", echo.address,
                           global_={"stats_socket": f'"{stats}"'}))
    assert unix_echo(front, b"through a replaced file") == b"through a replaced file"
    (info,) = stats_query(stats, "show info")
    assert "generation: 0\n" in info, info
    assert d.stop() == 0
    assert not os.path.exists(front) and not os.path.exists(stats)


@pytest.mark.parametrize("which", ["listener", "stats_socket"])
def test_a_live_socket_at_the_path_fails_the_start_with_exit_3(tmp_path, which):
    path = str(tmp_path / "taken.sock")
    owner = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    owner.bind(path)
    owner.listen(8)
    try:
        if which == "listener":
            text = conf_text(f"unix:{path}", "127.0.0.1:1")
            what = rf"error listener front: cannot listen on unix:{re.escape(path)}: "
        else:
            text = conf_text(f"127.0.0.1:{free_port()}", "127.0.0.1:1",
                             global_={"stats_socket": f'"{path}"'})
            what = rf"error stats socket: cannot listen on {re.escape(path)}: "
        code, err = start_fails(tmp_path, text)
        assert code == EXIT_STARTUP, (code, err)
        assert re.search(what + "Address already in use$", err, re.M), err
        assert "ready (" not in err, err
        # The other process keeps its socket, file and all.
        c = unix_connect(path)
        peer, _ = owner.accept()
        c.close()
        peer.close()
    finally:
        owner.close()


@pytest.mark.parametrize("which", ["listener", "stats_socket"])
def test_a_path_that_is_not_a_socket_fails_the_start_and_is_left_alone(tmp_path, which):
    path = str(tmp_path / "precious.txt")
    with open(path, "w") as f:
        f.write("not a socket\n")
    if which == "listener":
        text = conf_text(f"unix:{path}", "127.0.0.1:1")
        what = rf"error listener front: cannot listen on unix:{re.escape(path)}: "
    else:
        text = conf_text(f"127.0.0.1:{free_port()}", "127.0.0.1:1",
                         global_={"stats_socket": f'"{path}"'})
        what = rf"error stats socket: cannot listen on {re.escape(path)}: "
    code, err = start_fails(tmp_path, text)
    assert code == EXIT_STARTUP, (code, err)
    assert re.search(what + "File exists$", err, re.M), err
    with open(path) as f:
        assert f.read() == "not a socket\n"


CHECK = ('{ interval = "200ms"; timeout = "100ms"; rise = 1; fall = 1; }')


def server_rows(stats):
    rows = parse_stat(stats_query(stats, "show stat")[0])
    return {r["name"]: r for r in rows if r["type"] == "server"}


def wait_server(stats, name, status, health):
    def match():
        r = server_rows(stats).get(name)
        return r if r and r["status"] == status and r["health"] == health else None
    return wait_until(match, what=f"{name} {status} with health {health!r}:\n"
                      + stats_query(stats, "show stat")[0])


def test_health_checks_of_unix_servers_follow_the_socket_file(netpolld, servers, tmp_path):
    up_path, gone_path = str(tmp_path / "up.sock"), str(tmp_path / "gone.sock")
    stats = str(tmp_path / "stats.sock")
    up = servers(echo_handler, path=up_path)
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", [f"unix:{up_path}", f"unix:{gone_path}"],
                           global_={"stats_socket": f'"{stats}"'},
                           backend={"health_check": CHECK}))
    # No file at all: DOWN, with the reason the connect gave.
    wait_server(stats, f"unix:{gone_path}", "DOWN", "No such file or directory")
    d.wait_log(rf" warn server pool/unix:{re.escape(gone_path)} is DOWN: "
               r"No such file or directory$")
    wait_server(stats, f"unix:{up_path}", "UP", "ok")

    # Every client goes to the one that is UP.
    for i in range(4):
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
            msg = b"client %d" % i
            s.sendall(msg)
            assert recv_exactly(s, len(msg)) == msg
    lines = d.wait_conns(4)
    assert {ln["server"] for ln in lines} == {f"unix:{up_path}"}, lines
    assert all(ln["end"] == "client_close" for ln in lines), lines

    # The missing one starts listening: UP after one passed check.
    servers(echo_handler, path=gone_path)
    wait_server(stats, f"unix:{gone_path}", "UP", "ok")
    d.wait_log(rf" info server pool/unix:{re.escape(gone_path)} is UP: check passed$")

    # The first one stops listening but leaves its file: refused, DOWN.
    up.close()
    wait_server(stats, f"unix:{up_path}", "DOWN", "connect refused")
    d.wait_log(rf" warn server pool/unix:{re.escape(up_path)} is DOWN: connect refused$")


def test_a_missing_or_dead_unix_server_is_retried_on_the_next_one(netpolld, servers, tmp_path):
    missing, dead = str(tmp_path / "missing.sock"), str(tmp_path / "dead.sock")
    stale_socket_file(dead)
    echo = servers(echo_handler)
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", [f"unix:{missing}", f"unix:{dead}", echo.address],
                           backend={"retries": 2}))
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(b"third time lucky")
        assert recv_exactly(s, 16) == b"third time lucky"
    (ln,) = d.wait_conns(1)
    assert (ln["server"], ln["retries"], ln["end"]) == (echo.address, "2", "client_close"), ln
    log = d.log()
    for path, why in ((missing, "No such file or directory"), (dead, "Connection refused")):
        assert re.search(rf"(?m) warn session 1: connect to unix:{re.escape(path)}: {why}; "
                         r"trying the next server$", log), log


@pytest.mark.parametrize("state, end", [("missing", "error"), ("dead", "connect_refused")])
def test_a_client_whose_only_unix_server_fails_is_closed_with_the_reason(
        netpolld, tmp_path, state, end):
    path = str(tmp_path / f"{state}.sock")
    if state == "dead":
        stale_socket_file(path)
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", f"unix:{path}", backend={"retries": 0}))
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        try:
            assert s.recv(1) == b""
        except ConnectionResetError:
            pass
    (ln,) = d.wait_conns(1)
    assert (ln["server"], ln["retries"], ln["end"]) == ("-", "0", end), ln
