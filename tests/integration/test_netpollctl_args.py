"""netpollctl(1) against the real daemon: every spelling of the socket
option reaches the same socket, `--` ends the options, and the exit
status 3 cases of EXIT STATUS that need no broken daemon: a socket path
too long to connect to, and standard output that cannot be written."""
import os
import subprocess

import pytest

from conftest import ROOT, TIMEOUT, conf_text, echo_handler, free_port, parse_info

NETPOLLCTL = os.environ.get("NETPOLLCTL", os.path.join(ROOT, "build", "netpollctl"))


def ctl(*args, **kw):
    if "stdout" not in kw:
        kw["capture_output"] = True
    return subprocess.run([NETPOLLCTL, *args], text=True, timeout=TIMEOUT, **kw)


@pytest.fixture
def daemon(netpolld, servers, tmp_path):
    echo = servers(echo_handler)
    sock = str(tmp_path / "stats.sock")
    d = netpolld(conf_text(f"127.0.0.1:{free_port()}", echo.address,
                           global_={"stats_socket": f'"{sock}"'}))
    return d, sock


@pytest.mark.parametrize("spelling", [
    ["-s", "{S}", "info"], ["--socket", "{S}", "info"], ["--socket={S}", "info"],
    ["-s{S}", "info"], ["info", "--socket={S}"], ["-s{S}", "--", "info"]])
def test_every_spelling_of_the_socket_option_reaches_the_daemon(daemon, spelling):
    d, sock = daemon
    p = ctl(*[a.replace("{S}", sock) for a in spelling])
    assert p.returncode == 0, p.stderr
    info = parse_info(p.stdout)
    assert info["pid"] == str(d.pid), p.stdout
    assert info["generation"] == "0", p.stdout


def test_after_double_dash_an_option_is_a_word(daemon):
    _, sock = daemon
    p = ctl("-s", sock, "--", "info", "--json")
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "info takes no argument" in p.stderr, p.stderr
    assert p.stdout == ""


def test_an_empty_socket_path_is_a_usage_error():
    p = ctl("--socket=", "info")
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "the socket path is empty" in p.stderr, p.stderr


def test_a_socket_path_too_long_is_exit_3(tmp_path):
    path = "/tmp/" + "x" * 200
    p = ctl("-s", path, "info")
    assert p.returncode == 3, (p.returncode, p.stderr)
    assert p.stderr == f"netpollctl: cannot connect to {path}: File name too long\n"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("cmd", [["info"], ["stat"], ["stat", "--json"]])
def test_standard_output_that_cannot_be_written_is_exit_3(daemon, cmd):
    _, sock = daemon
    with open("/dev/full", "w") as full:
        p = ctl("-s", sock, *cmd, stdout=full, stderr=subprocess.PIPE)
    assert p.returncode == 3, (p.returncode, p.stderr)
    assert p.stderr == "netpollctl: writing the output: No space left on device\n", p.stderr
