"""Socket activation, the failure netpolld(8) "Socket activation" names:
an inherited socket that is not a listening stream socket makes the start
fail with exit 3, saying which descriptor it is; a LISTEN_FDS that cannot
be read is warned about and the daemon binds its listeners itself. The descriptors are
handed over the way systemd does (LISTEN_FDS, LISTEN_PID = the daemon's
own pid, the sockets from fd 3 on) by a small program that execs the daemon."""
import os
import re
import socket
import subprocess
import sys

import pytest

from conftest import BINARY, TIMEOUT, conf_text, free_port, wait_until, write_config

EXIT_STARTUP = 3
NOT_PASSED = ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET", "JOURNAL_STREAM",
              "WATCHDOG_USEC", "WATCHDOG_PID")
# Moves the inherited descriptor argv[1] (if not "-") to 3 and execs the
# rest with its own pid (which exec keeps) as LISTEN_PID; LISTEN_FDS and
# LISTEN_FDNAMES come from the environment it is given.
HAND_OVER = """
import os, sys
if sys.argv[1] != "-" and int(sys.argv[1]) != 3:
    os.dup2(int(sys.argv[1]), 3)
    os.close(int(sys.argv[1]))
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[2], sys.argv[2:])
"""


def environment(**listen):
    env = {k: v for k, v in os.environ.items() if k not in NOT_PASSED}
    env.update(listen)
    return env


def inherited_socket(kind, port):
    if kind == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", port))
    return s        # a stream socket that never listened, or a datagram one


@pytest.mark.parametrize("kind", ["udp", "tcp_not_listening"])
def test_an_inherited_socket_that_does_not_listen_fails_the_start(tmp_path, kind):
    port = free_port()
    conf = str(tmp_path / "netpolld.conf")
    write_config(conf, conf_text(f"127.0.0.1:{port}", "127.0.0.1:1"))
    s = inherited_socket(kind, port)
    env = environment(LISTEN_FDS="1", LISTEN_FDNAMES="front")
    try:
        p = subprocess.run([sys.executable, "-c", HAND_OVER, str(s.fileno()), BINARY, "-c", conf],
                           pass_fds=(s.fileno(),), env=env, capture_output=True, text=True,
                           timeout=TIMEOUT)
    finally:
        s.close()
    assert p.returncode == EXIT_STARTUP, (p.returncode, p.stderr)
    assert re.search(r"(?m) error socket activation: fd 3 \(front\) is not a listening "
                     r"stream socket$", p.stderr), p.stderr
    assert "ready (" not in p.stderr, p.stderr


def test_an_unusable_listen_fds_is_warned_about_and_the_daemon_binds_its_own(tmp_path):
    port = free_port()
    conf = str(tmp_path / "netpolld.conf")
    write_config(conf, conf_text(f"127.0.0.1:{port}", "127.0.0.1:1"))
    log_path = tmp_path / "netpolld.log"
    with open(log_path, "wb") as log:
        p = subprocess.Popen([sys.executable, "-c", HAND_OVER, "-", BINARY, "-c", conf],
                             env=environment(LISTEN_FDS="three"), stdout=log, stderr=log)
    try:
        def log_text():
            if p.poll() is not None:
                raise AssertionError(f"exited {p.returncode}:\n{log_path.read_text()}")
            return log_path.read_text()
        wait_until(lambda: "ready (" in log_text(), what="the ready line")
        text = log_path.read_text()
        assert re.search(r"(?m) warn socket activation: LISTEN_FDS unusable: error 22$", text), text
        assert re.search(rf"(?m) info listener front: listening on 127.0.0.1:{port}$", text), text
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT):
            pass
        p.terminate()
        assert p.wait(timeout=TIMEOUT) == 0, log_path.read_text()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
