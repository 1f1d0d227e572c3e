"""What every netpolld test suite needs on loopback: bounded waits, free
ports, sockets that never wait forever, the stats socket, the daemon's
text formats, and what /proc says of a running daemon. Shared by
tests/integration (through its conftest), tests/systemd and tests/soak."""
import os
import re
import socket
import time

# Generous: the suites also run under ASan on a loaded 2-core machine.
TIMEOUT = float(os.environ.get("NETPOLLD_TEST_TIMEOUT", "20"))


def wait_until(predicate, timeout=TIMEOUT, interval=0.01, what="condition"):
    """Polls PREDICATE until it returns a true value; fails after TIMEOUT."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def free_port(host="127.0.0.1"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def hostport(host, port):
    """An address as netpolld's configuration and logs write it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def connect(port, host="127.0.0.1", timeout=TIMEOUT):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def recv_all(sock, timeout=TIMEOUT):
    """Reads until EOF; returns the bytes. Raises on reset or timeout."""
    sock.settimeout(timeout)
    chunks = []
    while True:
        b = sock.recv(1 << 16)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def recv_exactly(sock, n, timeout=TIMEOUT):
    sock.settimeout(timeout)
    buf = bytearray()
    while len(buf) < n:
        b = sock.recv(n - len(buf))
        if not b:
            raise AssertionError(f"EOF after {len(buf)} of {n} bytes")
        buf += b
    return bytes(buf)


def unix_connect(path, timeout=TIMEOUT):
    """A client connected to the unix socket at PATH; TIMEOUT bounds the
    connect and every later operation on it (None: unbounded)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
    except BaseException:
        s.close()
        raise
    return s


def stats_query(path, *commands, timeout=TIMEOUT, error=AssertionError):
    """Sends COMMANDS on one connection to the stats socket at PATH; returns
    the answers (each without its closing empty line), in order. The
    socket closing before the last answer raises ERROR: by default a
    failed test; a caller whose polls retry on OSError passes
    ConnectionError."""
    s = unix_connect(path, timeout)
    try:
        s.sendall("".join(c + "\n" for c in commands).encode())
        buf, answers = b"", []
        while len(answers) < len(commands):
            if buf.startswith(b"\n"):          # an empty answer
                answers.append("")
                buf = buf[1:]
                continue
            end = buf.find(b"\n\n")
            if end >= 0:
                answers.append(buf[:end + 1].decode())
                buf = buf[end + 2:]
                continue
            b = s.recv(1 << 16)
            if not b:
                raise error(f"stats socket closed after {len(answers)} of {len(commands)} "
                            f"answers: {answers!r} + {buf!r}")
            buf += b
        return answers
    finally:
        s.close()


def parse_logfmt(line):
    return dict(re.findall(r"(\w+)=(\S+)", line))


def parse_info(text):
    """`key: value` lines (show info, netpollctl info) as a dict of strings."""
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


# ---- /proc: what a running daemon holds -------------------------------------

def proc_fds(pid):
    """{fd: what it is (readlink of /proc/PID/fd/FD)} for every descriptor
    PID holds; one closed while this reads is left out."""
    out = {}
    d = f"/proc/{pid}/fd"
    for fd in os.listdir(d):
        try:
            out[int(fd)] = os.readlink(f"{d}/{fd}")
        except OSError:
            pass
    return out


def proc_fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def proc_rss_kib(pid):
    """PID's VmRSS, in KiB; fails when it has none (a zombie)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


def proc_tcp_sockets(pid):
    """[(local, remote, state)] of the TCP sockets PID holds, as
    /proc/net/tcp and tcp6 write them (hex; state "01" ESTABLISHED,
    "08" CLOSE_WAIT, ...)."""
    inodes = set()
    for target in proc_fds(pid).values():
        m = re.match(r"socket:\[(\d+)\]", target)
        if m:
            inodes.add(m.group(1))
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[9] in inodes:
                    out.append((fields[1], fields[2], fields[3]))
    return out


# ---- NETPOLLD_TEST_SPLICE: the whole suite with splice on or off ----------
#
# Unset (or empty): config files are written as the tests made them (the
# daemon's default is splice on). "on" / "off": every config file the suite
# writes through write_config() gets `splice = true` / `splice = false` in
# its global section, unless its text already says something about splice.

SPLICE_MODES = {"on": "true", "off": "false"}


def splice_mode():
    """The NETPOLLD_TEST_SPLICE setting: None, "on" or "off"."""
    mode = os.environ.get("NETPOLLD_TEST_SPLICE", "").strip().lower()
    if not mode:
        return None
    if mode not in SPLICE_MODES:
        raise ValueError(f"NETPOLLD_TEST_SPLICE={mode!r}: expected 'on', 'off' or unset")
    return mode


def is_yaml_path(path):
    """The daemon's own rule: .yaml and .yml files are YAML, the rest libconfig."""
    return str(path).endswith((".yaml", ".yml"))


# A top-level libconfig group: `global = {` or `global : {` at a line start.
_LIBCONFIG_GLOBAL = re.compile(r"(?m)^([ \t]*global[ \t]*[=:][ \t]*\{)")
# A top-level YAML key `global:`, then either nothing (a block mapping
# follows), a flow mapping, or something else.
_YAML_GLOBAL = re.compile(r"(?m)^global[ \t]*:(?P<rest>[^\n]*)$")


def _inject_libconfig(text, value):
    setting = f" splice = {value};"
    if not re.search(r"\bglobal\b", text):
        if text.lstrip().startswith("@"):
            return text                 # an @include/@directive line: leave it alone
        # On the first line, so that every line keeps its number (the
        # tests of error messages check file:line).
        return f"global = {{{setting} }}; " + text
    found = _LIBCONFIG_GLOBAL.findall(text)
    if len(found) != 1:
        return text                     # not the shape we know: leave it alone
    return _LIBCONFIG_GLOBAL.sub(lambda m: m.group(1) + setting, text, count=1)


def _inject_yaml(text, value):
    found = list(_YAML_GLOBAL.finditer(text))
    if not found:
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        if re.search(r"\bglobal\b", text) or not lines or \
                not re.match(r"[A-Za-z_][\w-]*[ \t]*:", lines[0]):
            return text                 # not a plain top-level block mapping
        if any(ln.startswith(("%", "---", "...")) for ln in text.splitlines()):
            return text                 # directives or several documents
        return f"global:\n  splice: {value}\n" + text
    if len(found) != 1:
        return text
    m = found[0]
    rest = m.group("rest").split("#", 1)[0].strip()
    if rest.startswith("{"):
        # A flow mapping on the same line: the setting goes first in it.
        brace = text.index("{", m.start())
        after = text[brace + 1:].lstrip(" \t")
        sep = " " if after.startswith("}") else ", "
        return text[:brace + 1] + f"splice: {value}" + sep + after
    if rest:
        return text                     # a scalar or an alias: not ours to change
    # A block mapping: the children's indentation is that of the first
    # line with content after `global:`.
    for ln in text[m.end():].splitlines():
        if not ln.strip() or ln.lstrip().startswith("#"):
            continue
        indent = ln[:len(ln) - len(ln.lstrip(" \t"))]
        if not indent:
            return text                 # `global:` with nothing under it
        return text[:m.end()] + f"\n{indent}splice: {value}" + text[m.end():]
    return text


def inject_splice(text, yaml=False, mode=None):
    """TEXT (a config file's contents) with `splice` set in its global
    section as MODE ("on", "off"; None: from NETPOLLD_TEST_SPLICE) says.
    Unchanged when MODE is unset, when TEXT already mentions splice, or
    when TEXT is not in a shape this knows how to edit (deliberately
    broken files stay as broken as they were)."""
    mode = splice_mode() if mode is None else mode
    if mode is None or not isinstance(text, str) or "splice" in text:
        return text
    value = SPLICE_MODES[mode]
    try:
        return _inject_yaml(text, value) if yaml else _inject_libconfig(text, value)
    except (ValueError, IndexError):
        return text


def write_config(path, text, name=None):
    """Writes TEXT to PATH as a config file for the daemon, splice set as
    NETPOLLD_TEST_SPLICE asks; NAME (default PATH) is the name the daemon
    will read it by, which says whether it is YAML. Returns what was
    written."""
    text = inject_splice(text, yaml=is_yaml_path(path if name is None else name))
    with open(path, "w") as f:
        f.write(text)
    return text
