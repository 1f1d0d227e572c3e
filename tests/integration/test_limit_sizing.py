"""The connection limit the open-file limit sets (netpolld(8) "Connection
limit and file descriptors", netpolld.conf(5) max_connections): the soft
limit is raised to the hard one, a max_connections beyond what it carries
is lowered with the documented warning and enforced; and retries with a
single server or with only a backup left (netpolld(8) "Connecting and
retries", netpolld.conf(5) backup)."""
import re
import resource
import select

import pytest

from conftest import (conf_text, connect, echo_handler, free_port, parse_info,
                      recv_exactly, stats_query, wait_until)

# netpolld(8): two descriptors per connection, after a reserve of 24, one
# per listening socket and 17 for the stats socket (its own and 16 clients).
RESERVE, PER_LISTENER, PER_CONTROL_ENDPOINT = 24, 1, 17


def open_files_limits(pid):
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no Max open files line")


def test_the_soft_open_file_limit_is_raised_to_the_hard_one(netpolld, servers):
    _, hard_now = resource.getrlimit(resource.RLIMIT_NOFILE)
    hard = 400 if hard_now == resource.RLIM_INFINITY else min(400, hard_now)
    soft = hard // 2
    if soft < 64:
        pytest.skip(f"the hard open-file limit here is only {hard_now}")

    def lower_soft():
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    echo = servers(echo_handler)
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", echo.address), preexec_fn=lower_soft)
    assert open_files_limits(d.pid) == (hard, hard)
    carried = (hard - RESERVE - PER_LISTENER) // 2
    d.wait_log(rf" info connection limit {carried} \(open-file limit {hard}\)$")
    assert "cannot raise the open-file limit" not in d.log()


def served(s, msg):
    s.sendall(msg)
    return recv_exactly(s, len(msg)) == msg


def test_max_connections_beyond_the_open_file_limit_is_lowered_and_enforced(
        netpolld, servers, tmp_path):
    limit = 64
    carried = (limit - RESERVE - PER_LISTENER - PER_CONTROL_ENDPOINT) // 2

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    echo = servers(echo_handler)
    port = free_port()
    sock = str(tmp_path / "stats.sock")
    d = netpolld(conf_text(f"127.0.0.1:{port}", echo.address,
                           global_={"max_connections": 1000, "stats_socket": f'"{sock}"'}),
                 preexec_fn=low_limit)
    d.wait_log(rf" warn max_connections 1000 is more than the open-file limit {limit} "
               rf"carries; using {carried}$")

    clients = [connect(port) for _ in range(carried)]
    try:
        for i, c in enumerate(clients):
            assert served(c, b"client %d" % i)
        # One more waits in the backlog: accepting pauses at the limit.
        extra = connect(port)
        clients.append(extra)
        extra.sendall(b"the extra one")
        d.wait_log(rf" warn accept: connection limit {carried} reached; pausing accepts$")
        info = parse_info(stats_query(sock, "show info")[0])
        assert info["accept_paused"] == "1", info
        assert info["connections_current"] == str(carried), info
        r, _, _ = select.select([extra], [], [], 0)
        assert r == [], "the extra client was answered beyond the limit"
        # One leaves: the waiting one is taken and relayed.
        clients.pop(0).close()
        assert recv_exactly(extra, 13) == b"the extra one"
        # Full again; below the limit, accepting resumes.
        assert parse_info(stats_query(sock, "show info")[0])["accept_paused"] == "1"
        clients.pop(0).close()
        wait_until(lambda: parse_info(stats_query(sock, "show info")[0])["accept_paused"] == "0",
                   what="accepting to resume")
    finally:
        for c in clients:
            c.close()
    lines = d.wait_conns(carried + 1)
    assert all(ln["end"] == "client_close" for ln in lines), lines


def eof_or_reset(sock):
    try:
        return sock.recv(1 << 16)
    except ConnectionResetError:
        return b""


def test_with_a_single_server_every_attempt_goes_to_it(netpolld, refused):
    dead = refused()
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", dead, backend={"retries": 2}))
    with connect(port) as s:
        assert eof_or_reset(s) == b""
    (ln,) = d.wait_conns(1)
    assert (ln["server"], ln["retries"], ln["end"]) == ("-", "2", "connect_refused"), ln
    attempts = re.findall(rf"session 1: connect to {re.escape(dead)}: (.*)$", d.log(), re.M)
    assert attempts == ["Connection refused; trying the next server"] * 2 + \
        ["Connection refused"], d.log()
    # Three failed connects in a row: passively marked DOWN (what follows
    # from that is test_health's).
    d.wait_log(rf" warn server pool/{re.escape(dead)} is DOWN: connect refused$")


def test_a_retry_goes_to_a_backup_when_no_primary_is_left(netpolld, servers, refused, tmp_path):
    dead = refused()
    spare = servers(echo_handler)
    port = free_port()
    text = conf_text(f"127.0.0.1:{port}", [dead, spare.address], backend={"retries": 1})
    text = text.replace(f'{{ address = "{spare.address}"; }}',
                        f'{{ address = "{spare.address}"; backup = true; }}')
    assert "backup = true" in text
    d = netpolld(text)
    with connect(port) as s:
        assert served(s, b"to the backup")
    (ln,) = d.wait_conns(1)
    assert (ln["server"], ln["retries"], ln["end"]) == (spare.address, "1", "client_close"), ln
    assert re.search(rf"(?m)session 1: connect to {re.escape(dead)}: Connection refused; "
                     r"trying the next server$", d.log()), d.log()
