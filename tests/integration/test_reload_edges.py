"""Reload edge cases netpolld(8) and netpolld.conf(5) promise: the keys
that only a restart changes (buffer_size, stats_socket, metrics_listen)
are kept with a warning, also by every later reload; `reload` commands
that come in while a reload runs wait for the next one and get its own
outcome; a reload still loading when a graceful stop begins is abandoned
and said so; and a stop during a load still ends with exit 0.

A load is held in progress by making the configuration path a FIFO: the
loader thread blocks opening it until the test writes the next file
into it, so "while a reload runs" is a state, not a race. These files are
YAML; a libconfig file that is not a regular file is read in one pass too."""
import errno
import os
import re
import select
import signal
import socket

from conftest import (TIMEOUT, conf_text, connect, echo_handler, free_port, http_get, inject_splice,
                      parse_info, recv_exactly, stats_query, unix_connect, wait_until,
                      write_config)


def replace_file(path, text):
    """Replaces PATH atomically with TEXT, as an editor would."""
    tmp = path + ".tmp"
    write_config(tmp, text, name=path)
    os.rename(tmp, path)


def refused(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    try:
        return s.connect_ex(("127.0.0.1", port)) == errno.ECONNREFUSED
    finally:
        s.close()


def restart_warnings(d):
    return [ln.split(" warn ", 1)[1] for ln in d.log().splitlines()
            if " warn reload: " in ln and "takes effect at restart" in ln]


def test_restart_only_keys_are_kept_with_a_warning_on_every_reload(netpolld, servers, tmp_path):
    echo = servers(echo_handler)
    port, m1, m2 = free_port(), free_port(), free_port()
    s1, s2 = str(tmp_path / "s1.sock"), str(tmp_path / "s2.sock")

    def text(buffer_size, sock, mport):
        return conf_text(f"127.0.0.1:{port}", echo.address,
                         global_={"buffer_size": buffer_size, "stats_socket": f'"{sock}"',
                                  "metrics_listen": f'"127.0.0.1:{mport}"'})
    d = netpolld(text(8192, s1, m1))
    replace_file(d.config_path, text(32768, s2, m2))
    assert stats_query(s1, "reload") == ["ok: generation 1\n"]
    want = ["reload: buffer_size takes effect at restart; keeping 8192",
            f'reload: stats_socket takes effect at restart; keeping "{s1}"',
            f'reload: metrics_listen takes effect at restart; keeping "127.0.0.1:{m1}"']
    # The log is written behind the answer: wait for the line after them.
    d.wait_log(r" info reload: generation 1 serving")
    assert restart_warnings(d) == want, d.log()

    # The running values stay: the old socket and endpoint answer, the
    # new ones are not there.
    assert not os.path.exists(s2)
    assert refused(m2)
    assert http_get(m1, "/metrics").startswith(b"HTTP/1.1 200 ")
    assert parse_info(stats_query(s1, "show info")[0])["generation"] == "1"
    with connect(port) as c:
        c.sendall(b"generation 1 relays")
        assert recv_exactly(c, 19) == b"generation 1 relays"

    # The next reload compares with what runs, so it says so again.
    d.signal(signal.SIGHUP)
    d.wait_log(r" info reload: generation 2 serving")
    assert restart_warnings(d) == want + want, d.log()

    # Back to the running values: nothing to say.
    replace_file(d.config_path, text(8192, s1, m1))
    assert stats_query(s1, "reload") == ["ok: generation 3\n"]
    d.wait_log(r" info reload: generation 3 serving")
    assert restart_warnings(d) == want + want, d.log()
    assert d.stop() == 0
    assert not os.path.exists(s1)


def test_a_reload_adding_control_endpoints_says_none_until_restart(netpolld, servers, tmp_path):
    echo = servers(echo_handler)
    port, mport = free_port(), free_port()
    sock = str(tmp_path / "later.sock")
    d = netpolld(conf_text(f"127.0.0.1:{port}", echo.address))
    replace_file(d.config_path, conf_text(
        f"127.0.0.1:{port}", echo.address,
        global_={"stats_socket": f'"{sock}"', "metrics_listen": f'"127.0.0.1:{mport}"'}))
    d.signal(signal.SIGHUP)
    d.wait_log(r" info reload: generation 1 serving")
    assert restart_warnings(d) == [
        "reload: stats_socket takes effect at restart; none until then",
        "reload: metrics_listen takes effect at restart; none until then"], d.log()
    assert not os.path.exists(sock)
    assert refused(mport)


# ---- a load held in progress ------------------------------------------------

def make_fifo(path):
    """Puts a FIFO at PATH in place of the configuration file."""
    tmp = path + ".fifo"
    os.mkfifo(tmp)
    os.rename(tmp, path)


def yaml_conf(port, server, stats, backend="pool"):
    """A YAML file with one listener "front" and one backend "pool"; the
    global section is a flow mapping, so setting splice moves no line."""
    return (f'global: {{ log_level: info, stats_socket: "{stats}" }}\n'
            "listeners:\n"
            "  - name: front\n"
            f'    listen: "127.0.0.1:{port}"\n'
            f"    backend: {backend}\n"
            "backends:\n"
            "  - name: pool\n"
            "    servers:\n"
            f'      - address: "{server}"\n')


def feed(path, text, gone=lambda: False):
    """Writes the YAML TEXT (splice set as the suite runs) into the FIFO at
    PATH as soon as the loader has it open for reading. False, without
    writing, if GONE() says there is no loader to wait for any more."""
    def opened():
        try:
            return [os.open(path, os.O_WRONLY | os.O_NONBLOCK)]
        except OSError as e:
            if e.errno != errno.ENXIO:      # ENXIO: no reader yet
                raise
        return [None] if gone() else None
    (fd,) = wait_until(opened, what=f"the loader to open {path}")
    if fd is None:
        return False
    try:
        os.set_blocking(fd, True)
        os.write(fd, inject_splice(text, yaml=True).encode())
    finally:
        os.close(fd)
    return True


def read_answer(s):
    """One answer, up to and without its closing empty line."""
    buf = b""
    while not buf.endswith(b"\n\n"):
        b = s.recv(1 << 16)
        if not b:
            raise AssertionError(f"stats socket closed after {buf!r}")
        buf += b
    return buf[:-1].decode()


def pending(s):
    """True if S has nothing to read now (no answer, no EOF)."""
    r, _, _ = select.select([s], [], [], 0)
    return not r


def test_reload_commands_during_a_reload_wait_for_the_next_and_get_its_outcome(
        netpolld, servers, tmp_path):
    echo = servers(echo_handler)
    port = free_port()
    sock = str(tmp_path / "stats.sock")
    good = yaml_conf(port, echo.address, sock)
    d = netpolld(good, name="netpolld.yaml")
    make_fifo(d.config_path)

    first = unix_connect(sock)
    first.sendall(b"reload\n")
    d.wait_log(r" info reload: reading ", count=1)
    # Its "show info" answer proves the reload line behind it was taken
    # while the first load still runs (one reactor thread, in order).
    second = unix_connect(sock)
    second.sendall(b"show info\nreload\n")
    assert parse_info(read_answer(second))["generation"] == "0"

    feed(d.config_path, good)
    assert read_answer(first) == "ok: generation 1\n"
    # The second waits for a load of its own, which reads the file again.
    d.wait_log(r" info reload: reading ", count=2)
    assert pending(second)
    feed(d.config_path, yaml_conf(port, echo.address, sock, backend="nowhere"))
    assert read_answer(second) == (
        f"error: reload failed\nerror: {d.config_path}:5: "
        'listeners[0] ("front"): backend "nowhere" is not defined\n')
    first.close()
    second.close()

    # Generation 1 goes on serving.
    info = parse_info(stats_query(sock, "show info")[0])
    assert info["generation"] == "1", info
    assert info["last_reload"].startswith("failed: "), info
    with connect(port) as c:
        c.sendall(b"still here")
        assert recv_exactly(c, 10) == b"still here"


def test_a_reload_loading_when_a_graceful_stop_begins_is_abandoned(netpolld, servers, tmp_path):
    echo = servers(echo_handler)
    port = free_port()
    sock = str(tmp_path / "stats.sock")
    good = yaml_conf(port, echo.address, sock)
    d = netpolld(good, name="netpolld.yaml")
    held = connect(port)            # keeps the graceful stop waiting
    held.sendall(b"x")
    assert recv_exactly(held, 1) == b"x"
    make_fifo(d.config_path)
    waiter = unix_connect(sock)
    waiter.sendall(b"reload\n")
    d.wait_log(r" info reload: reading ")

    d.signal(signal.SIGTERM)
    d.wait_log(r"SIGTERM: stopping gracefully")
    feed(d.config_path, good)
    assert read_answer(waiter) == \
        f"error: reload failed\nerror: {d.config_path}: stopping: reload abandoned\n"
    waiter.close()
    info = parse_info(stats_query(sock, "show info")[0])
    assert info["generation"] == "0", info
    assert info["last_reload"] == f"failed: {d.config_path}: stopping: reload abandoned", info

    # The connection open at the stop still relays, and its end ends it.
    held.sendall(b"after the stop began")
    assert recv_exactly(held, 20) == b"after the stop began"
    held.close()
    assert d.wait_exit() == 0
    assert re.search(r"(?m) info stopped$", d.log()), d.log()


def test_a_stop_while_a_reload_loads_still_exits_0(netpolld, servers, tmp_path):
    echo = servers(echo_handler)
    port = free_port()
    sock = str(tmp_path / "stats.sock")
    good = yaml_conf(port, echo.address, sock)
    d = netpolld(good, name="netpolld.yaml")
    make_fifo(d.config_path)
    waiter = unix_connect(sock)
    waiter.sendall(b"reload\n")
    d.wait_log(r" info reload: reading ")
    d.signal(signal.SIGTERM)
    d.wait_log(r"SIGTERM: stopping gracefully")
    # Nothing open: the daemon stops without waiting for its loader,
    # which may never finish (a resolver that never answers); nobody
    # ever opens the FIFO for writing.
    assert d.wait_exit() == 0, d.log()
    rest = b""
    try:
        while True:
            b = waiter.recv(1 << 16)
            if not b:
                break
            rest += b
    except ConnectionResetError:
        pass
    waiter.close()
    # Closed, never left hanging; and no claim the reload happened.
    assert rest == b"" or rest.startswith(b"error: "), rest
    assert "generation 1 serving" not in d.log()
    assert not os.path.exists(sock)
