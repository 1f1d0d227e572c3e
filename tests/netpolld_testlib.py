"""What every netpolld test suite needs on loopback: bounded waits, free
ports, sockets that never wait forever, and the daemon's text formats.
Shared by tests/integration (through its conftest) and tests/systemd."""
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


def parse_logfmt(line):
    return dict(re.findall(r"(\w+)=(\S+)", line))


def parse_info(text):
    """`key: value` lines (show info, netpollctl info) as a dict of strings."""
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
