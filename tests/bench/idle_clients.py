"""Holds N idle TCP connections to a Redis server (directly or through a
proxy), for the RSS-per-idle-connection figure.

    python3 idle_clients.py PORT N

Opens N connections to 127.0.0.1:PORT, a bounded number at a time (so no
listen backlog overflows and no SYN waits a second to be retried), sends
PING on each and waits for +PONG, keeping every socket open. Then prints
one line on stdout, "ready OK SECONDS WHY" (WHY: "-", or failures
counted by reason, "ECONNRESET:3,eof:1"), and holds them until a line
(or EOF) arrives on stdin; then closes them all and exits.

A separate process on the load CPU so that its 8000 descriptors and its
work stay out of the bench process.
"""
import collections
import errno
import resource
import selectors
import socket
import sys
import time

IN_FLIGHT = 256
DEADLINE = 30.0   # 8000 take about a second when all is well
REQUEST = b"PING\r\n"
REPLY = b"+PONG\r\n"


def raise_nofile():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def open_one(sel, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.connect_ex(("127.0.0.1", port))
    # state: b"" while connecting would be ambiguous, so a list [sent, buf]
    sel.register(s, selectors.EVENT_WRITE, [False, b""])


def on_event(sel, key):
    """Advances one socket; returns "done", None (not yet) or why it
    failed (an errno name, "eof" or "garbage")."""
    s, state = key.fileobj, key.data
    if not state[0]:
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            return errno.errorcode.get(err, str(err))
        try:
            s.send(REQUEST)
        except OSError as e:
            return errno.errorcode.get(e.errno, str(e.errno))
        state[0] = True
        sel.modify(s, selectors.EVENT_READ, state)
        return None
    try:
        data = s.recv(64)
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    if not data:
        return "eof"
    state[1] += data
    if state[1].startswith(REPLY):
        return "done"
    return None if REPLY.startswith(state[1]) else "garbage"


def open_all(port, n):
    sel = selectors.DefaultSelector()
    held, failed, opened = [], collections.Counter(), 0
    deadline = time.monotonic() + DEADLINE

    def settled():
        return len(held) + sum(failed.values())

    while settled() < n and time.monotonic() < deadline:
        while opened < n and opened - settled() < IN_FLIGHT:
            open_one(sel, port)
            opened += 1
        for key, _ in sel.select(timeout=1.0):
            outcome = on_event(sel, key)
            if outcome is None:
                continue
            sel.unregister(key.fileobj)
            if outcome == "done":
                held.append(key.fileobj)
            else:
                key.fileobj.close()
                failed[outcome] += 1
    # Whatever is still pending at the deadline counts as failed.
    for key in list(sel.get_map().values()):
        key.fileobj.close()
        failed["timeout"] += 1
    sel.close()
    return held, failed


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    raise_nofile()
    start = time.monotonic()
    held, failed = open_all(port, n)
    why = ",".join(f"{k}:{v}" for k, v in sorted(failed.items())) or "-"
    print(f"ready {len(held)} {time.monotonic() - start:.2f} {why}", flush=True)
    sys.stdin.readline()
    for s in held:
        s.close()


if __name__ == "__main__":
    main()
