"""The command line: -t on the shipped examples, configuration errors as
FILE:LINE lines with exit 1, usage errors with exit 2, start-up failures
with exit 3, and -l against the file's log_level and log_connections."""
import os
import re
import signal
import socket
import subprocess

import pytest

from conftest import (BINARY, ROOT, TIMEOUT, conf_text, connect, free_port,
                      recv_all, wait_until)

TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def run(*args, timeout=TIMEOUT):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=timeout)


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.parametrize("name", ["netpolld.conf", "netpolld.yaml"])
def test_t_accepts_the_example_configurations(name):
    r = run("-t", "-c", os.path.join(ROOT, "conf", name))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "configuration OK\n"
    assert r.stderr == ""


# Three errors in different places of one file; (line, text) of each.
BAD_CONF = """\
global = {
  log_level = "info";
  bogus_key = 1;
};
listeners = (
  {
    name = "front";
    listen = "127.0.0.1:%(port)d";
    backend = "nowhere";
    idle_timeout = "5x";
  }
);
backends = (
  {
    name = "pool";
    servers = ( { address = "127.0.0.1:9"; } );
  }
);
"""
BAD_YAML = """\
global:
  log_level: info
  bogus_key: 1
listeners:
  - name: front
    listen: 127.0.0.1:%(port)d
    backend: nowhere
    idle_timeout: 5x
backends:
  - name: pool
    servers:
      - address: 127.0.0.1:9
"""
BAD_ERRORS = {
    "netpolld.conf": [(3, r"unknown key 'bogus_key'"),
                      (9, r"backend \"nowhere\" is not defined"),
                      (10, r"idle_timeout: \"5x\": unknown unit")],
    "netpolld.yaml": [(3, r"unknown key 'bogus_key'"),
                      (7, r"backend \"nowhere\" is not defined"),
                      (8, r"idle_timeout: \"5x\": unknown unit")],
}


def write_bad(tmp_path, name, port):
    path = os.path.join(str(tmp_path), name)
    with open(path, "w") as f:
        f.write((BAD_CONF if name.endswith(".conf") else BAD_YAML) % {"port": port})
    return path


@pytest.mark.parametrize("name", ["netpolld.conf", "netpolld.yaml"])
def test_t_reports_every_config_error_as_file_line_message_and_exits_1(tmp_path, name):
    path = write_bad(tmp_path, name, free_port())
    r = run("-t", "-c", path)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "configuration OK" not in r.stdout
    lines = r.stderr.splitlines()
    want = BAD_ERRORS[name]
    assert len(lines) == len(want), r.stderr
    for line, (lineno, text) in zip(lines, want):
        assert re.fullmatch(re.escape(f"{path}:{lineno}: ") + r".*" + text + r".*", line), line


@pytest.mark.parametrize("name", ["netpolld.conf", "netpolld.yaml"])
def test_start_with_config_errors_logs_them_exits_1_and_listens_nowhere(tmp_path, name):
    port = free_port()
    path = write_bad(tmp_path, name, port)
    r = run("-c", path)
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    want = BAD_ERRORS[name]
    assert len(lines) == len(want), r.stderr
    for line, (lineno, text) in zip(lines, want):
        # The same messages, as log lines: timestamp, level, FILE:LINE.
        assert re.fullmatch(TS + " error " + re.escape(f"{path}:{lineno}: ") + r".*" + text
                            + r".*", line), line
    assert refused(port)


@pytest.mark.parametrize("args", [["-x"], ["--no-such-option"], ["extra-argument"],
                                  ["-c", "/dev/null", "extra"], ["-l", "loud"],
                                  ["--log-level=verbose"], ["-c"]])
def test_usage_errors_exit_2(args):
    r = run(*args)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert r.stdout == ""
    assert r.stderr.strip() != ""


def test_bad_log_level_names_the_valid_ones():
    r = run("-l", "loud", "-t", "-c", os.path.join(ROOT, "conf", "netpolld.conf"))
    assert r.returncode == 2
    assert "loud" in r.stderr
    assert all(w in r.stderr for w in ("error", "warn", "info", "debug"))


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_prints_usage_and_exits_0(flag):
    r = run(flag)
    assert r.returncode == 0
    assert r.stdout.startswith("usage: netpolld")
    for opt in ("--config", "--test", "--log-level", "--version", "--help"):
        assert opt in r.stdout
    assert r.stderr == ""


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version_prints_the_version_and_exits_0(flag):
    with open(os.path.join(ROOT, "VERSION")) as f:
        version = f.read().strip()
    r = run(flag)
    assert r.returncode == 0
    assert re.match(r"netpolld " + re.escape(version) + r"\b", r.stdout), r.stdout
    assert r.stderr == ""


@pytest.mark.parametrize("first_free", [False, True])
def test_listen_address_in_use_exits_3_naming_listener_and_address(netpolld, servers,
                                                                   first_free):
    echo = servers()
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    # Also when an earlier address of the listener was bound already: it
    # must be given up again (and freed: the sanitizer run checks).
    listen = [f"127.0.0.1:{free_port()}"] if first_free else []
    listen.append(f"127.0.0.1:{port}")
    try:
        d = netpolld(conf_text(listen, echo.address), wait_ready=False)
        assert d.wait_exit() == 3, d.log()
    finally:
        taken.close()
    log = d.log()
    assert re.search(r" error listener front: cannot listen on 127\.0\.0\.1:%d: "
                     r"Address already in use$" % port, log, re.M), log
    assert "ready (" not in log


def test_missing_config_file_exits_1(tmp_path):
    missing = os.path.join(str(tmp_path), "absent.conf")
    for args in (["-c", missing], ["-t", "-c", missing]):
        r = run(*args)
        assert r.returncode == 1, (args, r.stderr)
        assert f"{missing}: cannot open: No such file or directory" in r.stderr
    r = run("-t", "-c", str(tmp_path))
    assert r.returncode == 1
    assert f"{tmp_path}: cannot open: Is a directory" in r.stderr


def one_connection(port):
    """One echoed exchange; returns the client's "IP:PORT" as logged."""
    s = connect(port)
    client = "%s:%d" % s.getsockname()
    s.sendall(b"ping")
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b"ping"
    s.close()
    return client


def wait_conn_of(d, client):
    """The connection line of CLIENT (readiness probes leave lines too)."""
    def find():
        return [ln for ln in d.conn_lines() if ln.get("client") == client]
    (ln,) = wait_until(find, what=f"the connection line of {client}")
    return ln


def start_unready(netpolld, text, args, port):
    """Starts a daemon whose log may not show the ready line (-l error):
    ready means the port accepts. The probes are connections too, each
    with its own log line."""
    d = netpolld(text, args=args, wait_ready=False)

    def up():
        if d.proc.poll() is not None:
            raise AssertionError(f"netpolld exited {d.proc.returncode}:\n{d.log()}")
        return not refused(port)
    wait_until(up, what="the listener")
    return d


def test_l_debug_overrides_the_files_log_level(netpolld, servers):
    echo = servers()
    port = free_port()
    d = start_unready(netpolld, conf_text(f"127.0.0.1:{port}", echo.address,
                                          global_={"log_level": '"error"'}),
                      ["-l", "debug"], port)
    wait_conn_of(d, one_connection(port))
    d.signal(signal.SIGTERM)
    assert d.wait_exit() == 0
    log = d.log()
    assert re.search(TS + r" debug session \d+: CONNECTING -> RELAYING$", log, re.M), log
    assert re.search(TS + r" info listener front: listening on", log), log


def test_l_error_silences_info_but_not_connection_lines(netpolld, servers):
    echo = servers()
    port = free_port()
    d = start_unready(netpolld, conf_text(f"127.0.0.1:{port}", echo.address,
                                          global_={"log_level": '"debug"',
                                                   "log_connections": "true"}),
                      ["-l", "error"], port)
    ln = wait_conn_of(d, one_connection(port))
    assert ln["end"] == "client_close" and ln["bytes_in"] == "4", ln
    d.signal(signal.SIGTERM)
    assert d.wait_exit() == 0
    lines = d.log().splitlines()
    # The connection line is an access log: it follows log_connections,
    # not the level. Every other info/debug/warn line is gone.
    assert [ln for ln in lines if " conn=" in ln] != []
    assert [ln for ln in lines if " conn=" not in ln] == [], lines


def test_log_connections_false_suppresses_connection_lines(netpolld, servers):
    echo = servers()
    port = free_port()
    d = netpolld(conf_text(f"127.0.0.1:{port}", echo.address,
                           global_={"log_connections": "false"}), args=["-l", "debug"])
    one_connection(port)
    # The debug line of the teardown proves the session is over.
    d.wait_log(r" debug session 1: \w+ -> CLOSED$")
    d.signal(signal.SIGTERM)
    assert d.wait_exit() == 0
    log = d.log()
    assert "conn=" not in log, log
    assert " info stopped" in log


@pytest.mark.parametrize("text, line, message", [
    ('"x";\n', 1, "syntax error"),                        # a string where a name goes
    ('global = { log_level = "info"; };\nlisteners = ( "a" "b" ;\n', 2, "syntax error"),
    ('global = {\n  x = "unterminated;\n', 3, ""),
])
def test_t_reports_a_syntax_error_in_a_string_and_leaks_nothing(tmp_path, text, line, message):
    """libconfig 1.5 leaks the string it was reading when the grammar has
    no place for it; the daemon leaves that leak to a child process, so
    the sanitized build (detect_leaks) exits cleanly with just the error."""
    path = tmp_path / "bad.conf"
    path.write_text(text)
    r = run("-t", "-c", str(path))
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"{path}:{line}: " if message else f"{path}:"), lines
    assert message in lines[0], lines


def test_t_reads_a_config_that_cannot_be_read_twice(tmp_path):
    """The syntax check in a child process must not eat a file that is a
    stream: -c /dev/stdin reads the whole file once, in the daemon."""
    with open(os.path.join(ROOT, "conf", "netpolld.conf"), "rb") as conf:
        r = subprocess.run([BINARY, "-t", "-c", "/dev/stdin"], stdin=conf,
                           capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "configuration OK" in r.stdout
