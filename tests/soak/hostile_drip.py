"""The drip phase: PROXY headers dripped at one byte a second. No header
is shorter than 15 bytes, so none can finish within the 5 s the daemon
gives a header; each is refused with end=proxy_header_error, no server
contacted. Beside them, control clients send headers quickly in pieces:
they are taken, the server sees exactly the payload, and the log names
the carried address (the dripping must not break honest slow senders)."""
import select
import socket
import struct
import threading
import time

from hostile_config import HEADER_TIMEOUT_S
from hostile_net import open_many, settle_keep
from hostile_phase import Phase
from hostile_util import TIMEOUT, median_max, now
from netpolld_testlib import recv_all

DRIP_CLIENTS = 300
DRIP_CONTROLS = 60
KINDS = ("v1", "v1-6", "v2")
SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def proxy_header(kind, i, base):
    """A PROXY header of KIND (v1/v1-6/v2) carrying a source unique to I
    (BASE picks the address range); returns (header, the address the log
    must name)."""
    port = 10000 + i
    if kind == "v1":
        src = f"{base}.{i // 250}.{i % 250 + 1}"
        return f"PROXY TCP4 {src} 192.0.2.1 {port} 80\r\n".encode(), f"{src}:{port}"
    if kind == "v1-6":
        src = f"2001:db8:{base.split('.')[1]}::{i + 1:x}"
        return f"PROXY TCP6 {src} 2001:db8::1 {port} 80\r\n".encode(), f"[{src}]:{port}"
    src = f"{base}.{i // 250}.{i % 250 + 1}"
    block = (socket.inet_aton(src) + socket.inet_aton("192.0.2.1") + struct.pack("!HH", port, 80))
    return SIG + b"\x21\x11" + struct.pack("!H", len(block)) + block, f"{src}:{port}"


def _open_drips(p, port, n):
    """N connected drip clients: {fd: its state}."""
    est = settle_keep(open_many(port, n))[0]
    p.check(len(est) == n, f"only {len(est)} of {n} drip clients connected")
    drips = {}
    for i, s in enumerate(est):
        hdr, _ = proxy_header(KINDS[i % 3], i, "198.18")
        drips[s.fileno()] = {"s": s, "data": hdr + b"never", "sent": 0, "closed": None,
                             "got": b"", "real": f"127.0.0.1:{s.getsockname()[1]}"}
    return drips


def _control(port, j):
    """Control client J: a header in three quick pieces, a payload, EOF;
    what it carried, sent and got back."""
    hdr, carried = proxy_header(KINDS[j % 3], j, "198.19")
    payload = b"control %d\n" % j
    r = {"carried": carried, "payload": payload, "echo": None, "real": None}
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as c:
            r["real"] = f"127.0.0.1:{c.getsockname()[1]}"
            cut = (len(hdr) // 3, 2 * len(hdr) // 3)
            for piece in (hdr[:cut[0]], hdr[cut[0]:cut[1]], hdr[cut[1]:]):
                c.sendall(piece)
                time.sleep(0.02)
            c.sendall(payload)
            c.shutdown(socket.SHUT_WR)
            r["echo"] = recv_all(c, TIMEOUT)
    except OSError as e:
        r["echo"] = e
    return r


def _control_loop(port, nctl, controls):
    for j in range(nctl):
        controls.append(_control(port, j))


def _drip(drips):
    """One byte a second to each drip client until it is closed (or the
    deadline); the set of those never closed."""
    ep = select.epoll()
    for fd in drips:
        ep.register(fd, select.EPOLLIN | select.EPOLLRDHUP)
    t0 = now()
    deadline = t0 + HEADER_TIMEOUT_S + TIMEOUT * 3
    next_tick = t0
    alive = set(drips)

    def gone(fd):
        drips[fd]["closed"] = now() - t0
        alive.discard(fd)
        ep.unregister(fd)
    while alive and now() < deadline:
        if now() >= next_tick:
            for fd in list(alive):
                d = drips[fd]
                if d["sent"] < len(d["data"]):
                    try:
                        d["sent"] += d["s"].send(d["data"][d["sent"]:d["sent"] + 1])
                    except OSError:
                        gone(fd)        # reset: it was closed meanwhile
            next_tick += 1.0
        for fd, _ in ep.poll(max(0.0, min(next_tick - now(), 0.5)), 4096):
            if fd not in alive:
                continue
            try:
                b = drips[fd]["s"].recv(64)
            except OSError:
                b = b""
            if b:
                drips[fd]["got"] += b
            else:
                gone(fd)
    ep.close()
    return alive


def _judge_drips(p, drips, by_client):
    """Every drip refused as proxy_header_error, by the timeout."""
    refused = completed = 0
    for d in drips.values():
        ln = by_client.get(d["real"])
        if not p.check(ln is not None, f"no log line for drip client {d['real']}"):
            continue
        if ln.get("end") == "proxy_header_error":
            refused += 1
            p.check(ln.get("server") == "-" and ln.get("bytes_in") == "0",
                    f"a refused drip went further: {ln}")
            p.check(int(ln["duration_ms"]) >= HEADER_TIMEOUT_S * 1000 - 50,
                    f"a drip refused before the header timeout: {ln}")
        else:
            completed += 1
            p.check(False, f"a header dripped at 1 byte/s was taken: {ln}")
    p.field("refused", refused)
    p.field("completed", completed)


def _judge_controls(p, controls, by_client, nctl):
    """The controls: taken, the server saw exactly the payload, the log
    names the carried address; or, only if the header timeout cut them,
    refused. Returns how many were taken."""
    ok = late = 0
    for r in controls:
        ln = by_client.get(r["carried"])
        if r["echo"] == r["payload"] and ln is not None:
            ok += 1
            p.check(ln.get("end") == "client_close" and
                    ln.get("bytes_in") == str(len(r["payload"])),
                    f"a control connection logged {ln}")
            continue
        ln = by_client.get(r["real"])
        if ln is not None and ln.get("end") == "proxy_header_error" \
                and int(ln["duration_ms"]) >= HEADER_TIMEOUT_S * 1000 - 50:
            late += 1           # the machine was too slow for 5 s: allowed
            continue
        p.check(False, f"control {r['carried']}: echo {r['echo']!r}, log {ln}")
    p.field("controls_ok", f"{ok}/{nctl}")
    if late:
        p.field("controls_timed_out", late)
    return ok


def drip(run):
    p = Phase(run, "drip")
    port, n, nctl = run.ports["drip"], run.n(DRIP_CLIENTS), run.n(DRIP_CONTROLS)
    before = int(run.rows()[("backend", "drip_pool")]["total"])
    drips = _open_drips(p, port, n)
    controls = []
    ctl = threading.Thread(target=_control_loop, args=(port, nctl, controls), daemon=True)
    ctl.start()
    alive = _drip(drips)
    ctl.join(TIMEOUT * 3)
    p.check(not ctl.is_alive(), "the control clients did not finish")
    p.check(not alive, f"{len(alive)} drip clients were never closed")
    spoke = [d for d in drips.values() if d["got"]]
    p.check(not spoke, f"{len(spoke)} drip clients received bytes")
    sent = [d["sent"] for d in drips.values()]
    p.field("drips", n)
    p.field("bytes_dripped", f"{min(sent)}..{max(sent)}")
    p.field("closed_after_s", median_max([d["closed"] for d in drips.values()
                                          if d["closed"] is not None]))
    lines = run.wait_lines("drip", n + nctl, TIMEOUT)
    by_client = {ln.get("client"): ln for ln in lines}
    p.check(len(lines) == n + nctl, f"{len(lines)} log lines for {n + nctl} clients")
    _judge_drips(p, drips, by_client)
    ok = _judge_controls(p, controls, by_client, nctl)
    after = int(run.rows()[("backend", "drip_pool")]["total"])
    p.check(after - before == ok, f"drip_pool took {after - before} connections, "
                                  f"{ok} headers were whole")
    for d in drips.values():
        d["s"].close()
    p.finish()
