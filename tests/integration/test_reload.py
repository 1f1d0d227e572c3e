"""Reload (SIGHUP and the stats socket's `reload`): the new file is checked
first and an invalid one changes nothing; a valid one is swapped in with no
refused or reset connection, unchanged addresses keep their very socket,
new ones are bound, removed ones stop accepting while their connections run
to the end, and 50 reloads in a row leak nothing."""
import hashlib
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import (SANITIZED, TIMEOUT, conf_text, connect, free_port, parse_info, recv_all,
                      recv_exactly, stats_query, wait_until)
from conftest import write_config


def tagged_echo(tag):
    """A handler that answers each chunk with TAG + the chunk, so a client
    knows which backend it reached."""
    def handler(conn):
        while True:
            b = conn.recv(1 << 16)
            if not b:
                break
            conn.sendall(tag + b)
        conn.close()
    return handler


def plain_echo(conn):
    while True:
        b = conn.recv(1 << 16)
        if not b:
            break
        conn.sendall(b)
    conn.close()


def write(path, text):
    """Replaces PATH atomically, as an editor or config management would."""
    tmp = path + ".tmp"
    write_config(tmp, text, name=path)
    os.rename(tmp, path)


def info(d, sock):
    return parse_info(stats_query(sock, "show info")[0])


def listen_inode(pid, port):
    """Inode of the listening TCP socket PID holds on PORT."""
    held = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            m = re.match(r"socket:\[(\d+)\]", os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
        if m:
            held.add(m.group(1))
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port \
                    and fields[9] in held:
                return fields[9]
    raise AssertionError(f"no listening socket on port {port} held by {pid}")


def reload_and_wait(d, generation):
    d.signal(signal.SIGHUP)
    d.wait_log(r" info reload: generation %d serving" % generation)


class Churn:
    """Opens short connections one after another until stopped; each sends
    a line and must get it back (tagged by the backend that answered). Any
    refused, reset or short connection is recorded."""

    def __init__(self, port):
        self.port = port
        self.stop = threading.Event()
        self.done = []          # (tag, start time) per connection
        self.errors = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        n = 0
        while not self.stop.is_set() and n < 5000:
            n += 1
            msg = b"hello %d\n" % n
            try:
                s = connect(self.port)
                s.sendall(msg)
                s.shutdown(socket.SHUT_WR)
                got = recv_all(s)
                s.close()
            except OSError as e:
                self.errors.append(repr(e))
                continue
            tag, _, rest = got.partition(b":")
            if rest != msg:
                self.errors.append(f"connection {n}: got {got!r}")
            self.done.append(tag)

    def finish(self):
        self.stop.set()
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive()


def test_reload_under_load_changes_backend_without_a_refused_or_reset_connection(
        tmp_path, netpolld, servers):
    old = servers(tagged_echo(b"old:"))
    new = servers(tagged_echo(b"new:"))
    stream_peer = servers(plain_echo)
    port, sport = free_port(), free_port()
    sock = str(tmp_path / "stats.sock")

    def config(backend):
        # Two listeners: one churned, one carrying the long stream to a
        # backend the reload does not touch.
        return (f'global = {{ stats_socket = "{sock}"; }};\n'
                'listeners = (\n'
                f'  {{ name = "front"; listen = "127.0.0.1:{port}"; backend = "pool"; }},\n'
                f'  {{ name = "stream"; listen = "127.0.0.1:{sport}"; backend = "steady"; }}\n'
                ');\nbackends = (\n'
                f'  {{ name = "pool"; servers = ( {{ address = "{backend.address}"; }} ); }},\n'
                f'  {{ name = "steady"; servers = ( {{ address = "{stream_peer.address}"; }} ); }}\n'
                ');\n')
    d = netpolld(config(old))
    inode = listen_inode(d.pid, port)

    # A long stream, byte-exact across the reload.
    stream = connect(sport)
    sent, got = hashlib.sha256(), hashlib.sha256()
    nbytes = [0, 0]

    def pump():
        for i in range(256):
            chunk = bytes([i]) * 16384
            stream.sendall(chunk)
            sent.update(chunk)
            nbytes[0] += len(chunk)
            time.sleep(0.005)
        stream.shutdown(socket.SHUT_WR)

    def drain():
        while True:
            b = stream.recv(1 << 16)
            if not b:
                return
            got.update(b)
            nbytes[1] += len(b)
    threads = [threading.Thread(target=pump), threading.Thread(target=drain)]
    for t in threads:
        t.start()

    churn = Churn(port)
    wait_until(lambda: len(churn.done) >= 50, what="connections before the reload")
    write(d.config_path, config(new))
    d.signal(signal.SIGHUP)
    d.wait_log(r" info reload: generation 1 serving")
    before = len(churn.done)
    wait_until(lambda: len(churn.done) >= before + 100, what="connections after the reload")
    churn.finish()
    for t in threads:
        t.join(TIMEOUT)
    stream.close()

    assert churn.errors == []
    assert len(churn.done) >= 150
    # Once the new generation serves, every new connection reaches the new
    # backend; before it, the old one.
    assert set(churn.done[:50]) == {b"old"}
    # (The one connection in flight at the swap may have reached either.)
    assert set(churn.done[before + 1:]) == {b"new"}
    assert nbytes[0] == nbytes[1] == 256 * 16384 and sent.digest() == got.digest()
    assert listen_inode(d.pid, port) == inode
    st = info(d, sock)
    assert st["generation"] == "1" and st["last_reload"] == "ok", st
    assert "refused" not in d.log() and "reset" not in d.log()


def test_broken_config_on_reload_keeps_the_old_one_serving(tmp_path, netpolld, servers):
    echo = servers(tagged_echo(b"a:"))
    port = free_port()
    sock = str(tmp_path / "stats.sock")
    good = conf_text(f"127.0.0.1:{port}", echo.address, global_={"stats_socket": f'"{sock}"'})
    d = netpolld(good)
    held = connect(port)
    held.sendall(b"1")
    assert recv_exactly(held, 3) == b"a:1"

    # Two errors: both are logged, the first is in last_reload.
    write(d.config_path, good.replace("backend = \"pool\"", "backend = \"nope\"")
          .replace("global = {", "global = {\n    bogus = 1;"))
    d.signal(signal.SIGHUP)
    d.wait_log(r" warn reload failed; generation 0 goes on serving")
    log = d.log()
    assert re.search(r"netpolld\.conf:\d+: .*unknown key 'bogus'", log), log
    assert re.search(r"netpolld\.conf:\d+: .*nope", log), log
    st = info(d, sock)
    assert st["generation"] == "0"
    assert st["last_reload"].startswith("failed: ") and "bogus" in st["last_reload"], st

    # The stats command says the same, error by error.
    answer = stats_query(sock, "reload")[0]
    assert answer.startswith("error: reload failed\n"), answer
    assert re.search(r"^error: \S+netpolld\.conf:\d+: .*bogus", answer, re.M), answer

    # Old config still serving, old connection untouched.
    held.sendall(b"2")
    assert recv_exactly(held, 3) == b"a:2"
    s = connect(port)
    s.sendall(b"x")
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b"a:x"
    held.close()

    # A file that cannot be read at all, likewise.
    os.unlink(d.config_path)
    d.signal(signal.SIGHUP)
    d.wait_log(r"cannot open", what="the unreadable file error")
    assert info(d, sock)["generation"] == "0"

    # A valid file again: generation 1.
    write(d.config_path, good)
    assert stats_query(sock, "reload")[0] == "ok: generation 1\n"
    assert info(d, sock)["last_reload"] == "ok"


def test_reload_that_cannot_bind_a_new_address_changes_nothing(tmp_path, netpolld, servers):
    echo = servers(tagged_echo(b"a:"))
    port = free_port()
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    busy = taken.getsockname()[1]
    sock = str(tmp_path / "stats.sock")
    g = {"stats_socket": f'"{sock}"'}
    d = netpolld(conf_text(f"127.0.0.1:{port}", echo.address, global_=g))
    try:
        write(d.config_path, conf_text([f"127.0.0.1:{port}", f"127.0.0.1:{busy}"],
                                       echo.address, global_=g))
        answer = stats_query(sock, "reload")[0]
    finally:
        taken.close()
    assert answer.startswith("error: reload failed\n"), answer
    assert f"cannot listen on 127.0.0.1:{busy}: Address already in use" in answer, answer
    assert info(d, sock)["generation"] == "0"
    s = connect(port)
    s.sendall(b"still")
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b"a:still"


def test_removed_listener_stops_accepting_while_its_connection_goes_on(
        tmp_path, netpolld, servers):
    echo = servers(plain_echo)
    keep, drop, add = free_port(), free_port(), free_port()
    d = netpolld(conf_text([f"127.0.0.1:{keep}", f"127.0.0.1:{drop}"], echo.address))
    held = connect(drop)
    held.sendall(b"before")
    assert recv_exactly(held, 6) == b"before"

    write(d.config_path, conf_text([f"127.0.0.1:{keep}", f"127.0.0.1:{add}"], echo.address))
    reload_and_wait(d, 1)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", drop), timeout=TIMEOUT)
    for port in (keep, add):
        s = connect(port)
        s.sendall(b"new")
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s) == b"new"
    # The connection that came in on the removed address runs to its end.
    held.sendall(b"after")
    assert recv_exactly(held, 5) == b"after"
    held.shutdown(socket.SHUT_WR)
    assert recv_all(held) == b""
    held.close()
    lines = d.wait_conns(3)
    assert all(ln["end"] == "client_close" for ln in lines), lines


def test_removed_unix_listener_path_is_unlinked_and_kept_one_stays(tmp_path, netpolld, servers):
    echo = servers(plain_echo)
    kept, gone = str(tmp_path / "kept.sock"), str(tmp_path / "gone.sock")
    port = free_port()
    d = netpolld(conf_text([f"127.0.0.1:{port}", f"unix:{kept}", f"unix:{gone}"], echo.address))
    ino = os.stat(kept).st_ino
    write(d.config_path, conf_text([f"127.0.0.1:{port}", f"unix:{kept}"], echo.address))
    reload_and_wait(d, 1)
    assert not os.path.exists(gone)
    assert os.stat(kept).st_ino == ino
    c = socket.socket(socket.AF_UNIX)
    c.settimeout(TIMEOUT)
    c.connect(kept)
    c.sendall(b"unix")
    c.shutdown(socket.SHUT_WR)
    assert recv_all(c) == b"unix"
    c.close()


def test_fifty_reloads_under_load_leave_fd_count_and_rss_flat(tmp_path, netpolld, servers):
    a, b = servers(tagged_echo(b"a:")), servers(tagged_echo(b"b:"))
    port = free_port()
    sock = str(tmp_path / "stats.sock")
    g = {"stats_socket": f'"{sock}"'}
    d = netpolld(conf_text(f"127.0.0.1:{port}", a.address, global_=g))
    churn = Churn(port)
    wait_until(lambda: len(churn.done) >= 20, what="warm-up connections")
    # A first round so that pools and the allocator reach their working size.
    for gen in range(1, 6):
        write(d.config_path, conf_text(f"127.0.0.1:{port}", (a, b)[gen % 2].address, global_=g))
        assert stats_query(sock, "reload")[0] == f"ok: generation {gen}\n"
    fds, rss = d.fd_count(), d.rss_kib()
    for gen in range(6, 56):
        write(d.config_path, conf_text(f"127.0.0.1:{port}", (a, b)[gen % 2].address, global_=g))
        assert stats_query(sock, "reload")[0] == f"ok: generation {gen}\n"
    churn.finish()
    assert churn.errors == []
    wait_until(lambda: parse_info(stats_query(sock, "show info")[0])["connections_current"] == "0",
               what="connections to end")
    # The stats client just closed; the daemon closes its side a turn later.
    wait_until(lambda: d.fd_count() <= fds, what=f"fd count back to {fds}")
    # Flat: a few pages of slack for the allocator, nothing per reload.
    if not SANITIZED:
        assert d.rss_kib() - rss < 2048, (rss, d.rss_kib())
    assert set(churn.done) >= {b"a", b"b"}


SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* getaddrinfo() for "slow.test" blocks until the file $SLOW_RELEASE exists
 * (at most 30 s), then answers 127.0.0.1: a resolver that hangs on cue. */
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **) =
        (int (*)(const char *, const char *, const struct addrinfo *, struct addrinfo **))
            dlsym(RTLD_NEXT, "getaddrinfo");
    if (node != NULL && strcmp(node, "slow.test") == 0) {
        const char *release = getenv("SLOW_RELEASE");
        for (int i = 0; i < 3000 && release && access(release, F_OK) != 0; i++)
            usleep(10000);
        node = "127.0.0.1";
    }
    return real(node, service, hints, res);
}
"""


def test_slow_resolver_on_reload_never_freezes_relaying(tmp_path, netpolld, servers):
    """The new file names a host whose lookup hangs until the test lets it
    go; meanwhile the old generation relays, and stats answer."""
    shim_c, shim_so = tmp_path / "shim.c", tmp_path / "shim.so"
    shim_c.write_text(SHIM)
    cc = subprocess.run(["cc", "-shared", "-fPIC", "-o", str(shim_so), str(shim_c), "-ldl"],
                        capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr
    echo = servers(tagged_echo(b"a:"))
    port = free_port()
    release = str(tmp_path / "release")
    sock = str(tmp_path / "stats.sock")
    g = {"stats_socket": f'"{sock}"'}
    env = {"LD_PRELOAD": str(shim_so), "SLOW_RELEASE": release}
    if SANITIZED:   # the shim comes first; ASan minds only by default
        env["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
    d = netpolld(conf_text(f"127.0.0.1:{port}", echo.address, global_=g), env=env)
    held = connect(port)
    write(d.config_path, conf_text(f"127.0.0.1:{port}", f"slow.test:{echo.port}", global_=g))
    d.signal(signal.SIGHUP)
    d.wait_log(r" info reload: reading ")
    # The loader is stuck in the resolver: relaying and stats go on.
    for i in range(20):
        held.sendall(b"%d" % i)
        want = b"a:%d" % i
        assert recv_exactly(held, len(want)) == want
    s = connect(port)
    s.sendall(b"new")
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b"a:new"
    assert info(d, sock)["generation"] == "0"
    assert "generation 1 serving" not in d.log()
    open(release, "w").close()
    d.wait_log(r" info reload: generation 1 serving")
    held.close()


def test_many_reloads_with_syntax_errors_leak_nothing(tmp_path, netpolld, servers):
    """Every failed reload of a file on which libconfig 1.5 leaks (a string
    where a setting name goes) is judged by a child process: under the
    sanitizers the daemon's exit shows no leak, and it serves on."""
    echo = servers(tagged_echo(b"a:"))
    port = free_port()
    sock = str(tmp_path / "stats.sock")
    good = conf_text(f"127.0.0.1:{port}", echo.address, global_={"stats_socket": f'"{sock}"'})
    d = netpolld(good)
    write(d.config_path, good + '\n"leaked string";\n')
    for _ in range(100):
        answer = stats_query(sock, "reload")[0]
        assert answer.startswith("error: reload failed\n") and "syntax error" in answer, answer
    assert info(d, sock)["generation"] == "0"
    s = connect(port)
    s.sendall(b"x")
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b"a:x"
    write(d.config_path, good)
    assert stats_query(sock, "reload")[0] == "ok: generation 1\n"
    assert d.stop() == 0
    assert d.sanitizer_reports() == [], d.log()
