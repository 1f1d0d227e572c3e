"""Logging against a stderr the daemon does not control: a pipe nobody
reads, a pipe or tty it shares with its parent, a reader that takes its
lines in small bites. The log must never stall the reactor, never change
the parent's file status flags, and never hand a reader half a line."""
import concurrent.futures
import fcntl
import os
import pty
import re
import select
import signal
import socket
import subprocess
import threading
import time

from conftest import (BINARY, SANITIZER_MARKS, TIMEOUT, conf_text, connect, free_port,
                      parse_info, parse_logfmt, recv_all, stats_query, wait_until)
from conftest import write_config

TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
LINE_RX = re.compile(TS + r" (error|warn|info|debug) \S.*")
CONN_RX = re.compile(
    TS + r" info conn=\d+ client=127\.0\.0\.1:\d+ listener=front backend=pool "
    r"server=\S+ connect_ms=\d+ duration_ms=\d+ bytes_in=\d+ bytes_out=\d+ retries=\d+ "
    r"end=[a-z_]+")
DROPPED_RX = re.compile(TS + r" warn log: (\d+) lines dropped: the log reader was too slow")

# Enough connection lines to overflow a 4 KiB pipe plus the daemon's
# 256 KiB queue (some 1,400 lines of ~190 bytes) with a wide margin.
LOAD_CONNS = 3000
LOAD_THREADS = 4


class LogPipe:
    """A pipe as the daemon's stderr. The test keeps both ends: the write
    end to look at its flags, the read end to read when it chooses to."""

    def __init__(self, size=4096):
        self.r, self.w = os.pipe()
        if size is not None:
            fcntl.fcntl(self.w, fcntl.F_SETPIPE_SZ, size)
        self.data = bytearray()
        self.lock = threading.Lock()
        self.thread = None
        self.eof = False

    def read_until(self, needle, timeout=TIMEOUT):
        """Reads in this thread until NEEDLE has arrived, then stops."""
        deadline = time.monotonic() + timeout
        while needle not in self.data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {needle!r} on stderr within {timeout}s: "
                                     f"{bytes(self.data)!r}")
            ready, _, _ = select.select([self.r], [], [], left)
            if ready:
                b = os.read(self.r, 1 << 16)
                if not b:
                    raise AssertionError(f"stderr closed before {needle!r}: {bytes(self.data)!r}")
                self.data += b

    def start_draining(self, chunk=1 << 16, pause=0.0):
        """From now on a thread reads everything (CHUNK bytes a read,
        PAUSE seconds between reads: a slow reader) until EOF."""
        def run():
            while True:
                b = os.read(self.r, chunk)
                if not b:
                    self.eof = True
                    return
                with self.lock:
                    self.data += b
                if pause:
                    time.sleep(pause)
        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def text(self):
        with self.lock:
            return bytes(self.data).decode(errors="replace")

    def close_write_end(self):
        if self.w >= 0:
            os.close(self.w)
            self.w = -1

    def finish(self, timeout=TIMEOUT):
        """After the daemon exited: reads the rest up to EOF; returns all."""
        self.close_write_end()
        if self.thread is None:
            self.start_draining()
        self.thread.join(timeout)
        assert self.eof, "stderr not at EOF although the daemon exited"
        return self.text()

    def close(self):
        self.close_write_end()
        os.close(self.r)


def spawn(tmp_path, text, stderr, args=(), name="netpolld.conf"):
    conf = os.path.join(str(tmp_path), name)
    write_config(conf, text)
    env = dict(os.environ)
    for k in ("JOURNAL_STREAM", "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
              "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(k, None)
    return subprocess.Popen([BINARY, "-c", conf, *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=stderr, env=env)


def config(tmp_path, echo, port, **global_):
    sock = os.path.join(str(tmp_path), "stats.sock")
    g = {"stats_socket": f'"{sock}"', "log_connections": "true"}
    g.update(global_)
    return conf_text(f"127.0.0.1:{port}", echo.address, global_=g), sock


def roundtrip(port, i):
    """One short echo connection through the proxy; returns its client port."""
    payload = f"connection {i} says hello;".encode() * 4
    s = connect(port)
    try:
        client_port = s.getsockname()[1]
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        got = recv_all(s)
    finally:
        s.close()
    assert got == payload, (i, got)
    return client_port


def load(port, total=LOAD_CONNS, threads=LOAD_THREADS, while_running=None):
    """TOTAL sequential echo round trips spread over THREADS threads, all
    byte-exact. WHILE_RUNNING() is called repeatedly meanwhile."""
    per = total // threads

    def worker(t):
        for k in range(per):
            roundtrip(port, t * per + k)
        return per
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        futures = [ex.submit(worker, t) for t in range(threads)]
        while while_running is not None and not all(f.done() for f in futures):
            while_running()
            concurrent.futures.wait(futures, timeout=0.05)   # paces the probes
        done = sum(f.result(timeout=TIMEOUT * 10) for f in futures)
    assert done == per * threads
    return done


def info(sock):
    return parse_info(stats_query(sock, "show info")[0])


def wait_all_closed(sock, total):
    """Until the daemon has finished (and so logged or dropped) TOTAL."""
    def done():
        i = info(sock)
        return i if (int(i["connections_total"]) >= total and
                     i["connections_current"] == "0") else None
    return wait_until(done, what=f"{total} connections finished")


def stop(proc, pipe):
    """SIGTERM; exit 0 within a bounded wait although nobody may be reading."""
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        # Tell a stalled daemon from one blocked on stderr at exit (e.g. a
        # sanitizer report written with a blocking write): read, then see.
        if pipe.thread is None:
            pipe.start_draining()
        try:
            proc.wait(timeout=TIMEOUT)
            raise AssertionError("netpolld exited on SIGTERM only once stderr was read:\n"
                                 + pipe.text()[-4000:])
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError("netpolld did not exit on SIGTERM:\n" + pipe.text()[-4000:])
    return rc


def check_lines(text):
    """Every line whole: ends with a newline, starts with time and level."""
    assert text.endswith("\n"), text[-300:]
    lines = text[:-1].split("\n")
    for ln in lines:
        assert LINE_RX.fullmatch(ln), f"cut or garbled log line: {ln!r}"
        if " conn=" in ln:
            assert CONN_RX.fullmatch(ln), f"cut connection line: {ln!r}"
    assert not [m for m in SANITIZER_MARKS if m in text], text
    return lines


def test_a_log_reader_that_never_reads_costs_dropped_lines_not_service(tmp_path, servers):
    echo = servers()
    port = free_port()
    text, sock = config(tmp_path, echo, port)
    pipe = LogPipe()
    proc = spawn(tmp_path, text, pipe.w)
    try:
        pipe.read_until(b"ready (")        # from here on nobody reads
        answers = []

        def probe():
            i = info(sock)                  # raises if the socket stops answering
            answers.append(int(i["log_dropped"]))
        load(port, while_running=probe)
        assert answers, "the stats socket was never asked during the load"
        i = wait_all_closed(sock, LOAD_CONNS)
        assert int(i["log_dropped"]) > 0, i
        assert answers == sorted(answers), answers     # never decreases
        # Still relaying, and still answering, with the reader stuck.
        roundtrip(port, LOAD_CONNS)
        i2 = wait_all_closed(sock, LOAD_CONNS + 1)
        assert int(i2["log_dropped"]) >= int(i["log_dropped"]), (i, i2)
        assert stop(proc, pipe) == 0
        # What did get through is the daemon's; whether the last line is
        # whole is test_lines_left_at_exit_under_a_stuck_reader_are_never_cut's.
        text = pipe.finish()
        assert not [m for m in SANITIZER_MARKS if m in text], text
        assert LINE_RX.match(text), text[:300]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        pipe.close()


def test_a_log_reader_that_catches_up_is_told_once_how_many_lines_were_lost(
        tmp_path, servers):
    echo = servers()
    port = free_port()
    text, sock = config(tmp_path, echo, port)
    pipe = LogPipe()
    proc = spawn(tmp_path, text, pipe.w)
    try:
        pipe.read_until(b"ready (")        # then nobody reads for a while
        load(port)
        dropped = int(wait_all_closed(sock, LOAD_CONNS)["log_dropped"])
        assert dropped > 0

        pipe.start_draining()
        m = wait_until(lambda: DROPPED_RX.search(pipe.text()), what="the lines-dropped warning")
        assert int(m.group(1)) == dropped, (m.group(0), dropped)
        assert int(info(sock)["log_dropped"]) == dropped

        # Connection lines flow again after the warning.
        client_port = roundtrip(port, LOAD_CONNS)
        after = wait_until(
            lambda: re.search(rf" conn=\d+ client=127\.0\.0\.1:{client_port} ",
                              pipe.text()[m.end():]),
            what="the connection line after the warning")
        assert after
        assert int(info(sock)["log_dropped"]) == dropped
        assert stop(proc, pipe) == 0
        lines = check_lines(pipe.finish())
        warnings = [ln for ln in lines if DROPPED_RX.fullmatch(ln)]
        assert len(warnings) == 1, warnings
        # Each of the load's connections was either logged or counted.
        at = lines.index(warnings[0])
        before = [parse_logfmt(ln) for ln in lines[:at] if " conn=" in ln]
        assert len({c["conn"] for c in before}) == len(before)
        assert len(before) + dropped == LOAD_CONNS, (len(before), dropped)
        assert lines[-1].endswith(" info stopped"), lines[-3:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        pipe.close()


def fd_flags(pid, fd):
    with open(f"/proc/{pid}/fdinfo/{fd}") as f:
        for line in f:
            if line.startswith("flags:"):
                return int(line.split()[1], 8)
    raise AssertionError("no flags in fdinfo")


def test_a_stderr_pipe_shared_with_the_parent_stays_blocking(tmp_path, servers):
    echo = servers()
    port = free_port()
    text, sock = config(tmp_path, echo, port)
    pipe = LogPipe(size=None)
    assert not fcntl.fcntl(pipe.w, fcntl.F_GETFL) & os.O_NONBLOCK
    proc = spawn(tmp_path, text, pipe.w)
    try:
        pipe.start_draining()
        wait_until(lambda: "ready (" in pipe.text(), what="the ready line")
        for i in range(20):
            roundtrip(port, i)
        wait_until(lambda: len(re.findall(r" conn=\d+ ", pipe.text())) >= 20,
                   what="20 connection lines")
        # The parent's description, and the daemon's fd 2, are untouched.
        assert not fcntl.fcntl(pipe.w, fcntl.F_GETFL) & os.O_NONBLOCK
        assert not fd_flags(proc.pid, 2) & os.O_NONBLOCK
        assert stop(proc, pipe) == 0
        assert not fcntl.fcntl(pipe.w, fcntl.F_GETFL) & os.O_NONBLOCK
        check_lines(pipe.finish())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        pipe.close()


def test_a_stderr_tty_shared_with_the_parent_stays_blocking(tmp_path, servers):
    echo = servers()
    port = free_port()
    text, sock = config(tmp_path, echo, port)
    master, slave = pty.openpty()
    out = bytearray()
    lock = threading.Lock()

    def drain():
        while True:
            try:
                b = os.read(master, 1 << 16)
            except OSError:         # EIO: every slave end is closed
                return
            if not b:
                return
            with lock:
                out.extend(b)
    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    seen = lambda: bytes(out).decode(errors="replace")  # noqa: E731
    assert not fcntl.fcntl(slave, fcntl.F_GETFL) & os.O_NONBLOCK
    proc = spawn(tmp_path, text, slave)
    try:
        wait_until(lambda: "ready (" in seen(), what="the ready line on the tty")
        for i in range(5):
            roundtrip(port, i)
        wait_until(lambda: len(re.findall(r" conn=\d+ ", seen())) >= 5,
                   what="5 connection lines on the tty")
        assert not fcntl.fcntl(slave, fcntl.F_GETFL) & os.O_NONBLOCK
        assert not fd_flags(proc.pid, 2) & os.O_NONBLOCK
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT) == 0, seen()
        assert not fcntl.fcntl(slave, fcntl.F_GETFL) & os.O_NONBLOCK
        wait_until(lambda: "info stopped" in seen(), what="the stopped line on the tty")
        assert not [m for m in SANITIZER_MARKS if m in seen()], seen()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(slave)
        reader.join(TIMEOUT)
        os.close(master)


def test_a_reader_taking_small_bites_never_sees_a_cut_line(tmp_path, servers):
    """A 4 KiB pipe read 97 bytes at a time, slowly: the daemon's writes
    are often partial, lines are dropped, and long lines (a reload error
    about a 5,000-character key) come through; still every line read is
    whole."""
    echo = servers()
    port = free_port()
    text, sock = config(tmp_path, echo, port)
    conf = os.path.join(str(tmp_path), "netpolld.conf")
    pipe = LogPipe()
    proc = spawn(tmp_path, text, pipe.w, args=["-l", "debug"])
    try:
        pipe.start_draining(chunk=97, pause=0.0005)
        wait_until(lambda: "ready (" in pipe.text(), what="the ready line")
        with open(conf, "w") as f:
            f.write("global = { %s = 1; };\n" % ("k" * 5000))
        reloads = 0

        def reload_broken():
            nonlocal reloads
            if reloads < 5:
                answer = stats_query(sock, "reload")[0]
                assert answer.startswith("error: reload failed"), answer
                reloads += 1
            else:
                info(sock)
        total = load(port, total=800, while_running=reload_broken)
        assert reloads == 5
        dropped = int(wait_all_closed(sock, total)["log_dropped"])

        def reported():
            return sum(int(m.group(1)) for m in DROPPED_RX.finditer(pipe.text()))
        # Nothing logs now: the reader catches up and every loss is told.
        wait_until(lambda: reported() == dropped, what=f"warnings adding up to {dropped}")
        assert int(info(sock)["log_dropped"]) == dropped
        assert stop(proc, pipe) == 0
        lines = check_lines(pipe.finish())
        conns = [parse_logfmt(ln) for ln in lines if " conn=" in ln]
        assert len({c["conn"] for c in conns}) == len(conns)
        assert lines[-1].endswith(" info stopped"), lines[-3:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        pipe.close()


def test_lines_left_at_exit_under_a_stuck_reader_are_never_cut(tmp_path, servers):
    """Nobody reads a 4 KiB pipe: some 20 connection lines fill it, the
    write that fills it is partial, the rest waits in the queue. SIGTERM:
    the daemon gives the reader its bounded while and exits. Whatever it
    left in the pipe must be whole lines: the reader (or a next process
    writing to the same pipe) must not find half a line at the end."""
    echo = servers()
    port = free_port()
    text, sock = config(tmp_path, echo, port)
    pipe = LogPipe()
    proc = spawn(tmp_path, text, pipe.w)
    try:
        pipe.read_until(b"ready (")        # from here on nobody reads
        total = load(port, total=100, threads=2)
        assert int(wait_all_closed(sock, total)["log_dropped"]) == 0   # all queued
        assert stop(proc, pipe) == 0
        text = pipe.finish()
        assert text.endswith("\n"), "the daemon exited leaving half a line: ..." + text[-200:]
        check_lines(text)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        pipe.close()


def test_lines_on_a_stderr_shared_with_another_writer_are_never_interleaved(
        tmp_path, servers):
    """The parent writes its own whole lines to the stderr pipe it shares
    with the daemon (each write(2) of a line is atomic on a pipe), while a
    slow reader keeps the pipe nearly full. Every line the reader gets must
    be either the parent's or the daemon's, whole: a daemon line split in
    two writes lets the parent's line land in its middle."""
    echo = servers()
    port = free_port()
    text, sock = config(tmp_path, echo, port)
    pipe = LogPipe()
    proc = spawn(tmp_path, text, pipe.w)
    stop_writing = threading.Event()
    written = []

    def parent_writer():
        n = 0
        while not stop_writing.is_set():
            os.write(pipe.w, f"parent line {n}\n".encode())   # blocking, atomic
            written.append(n)
            n += 1
            stop_writing.wait(0.001)
    writer = threading.Thread(target=parent_writer, daemon=True)
    try:
        pipe.start_draining(chunk=97, pause=0.0005)
        wait_until(lambda: "ready (" in pipe.text(), what="the ready line")
        writer.start()
        total = load(port, total=600, threads=4)
        wait_all_closed(sock, total)
        stop_writing.set()
        writer.join(TIMEOUT)
        assert written
        assert stop(proc, pipe) == 0
        text = pipe.finish()
        assert text.endswith("\n"), text[-300:]
        bad = [ln for ln in text[:-1].split("\n")
               if not re.fullmatch(r"parent line \d+", ln) and not LINE_RX.fullmatch(ln)
               or (" conn=" in ln and not CONN_RX.fullmatch(ln))]
        assert not bad, f"{len(bad)} interleaved lines, e.g. {bad[:4]!r}"
        assert len(re.findall(r"(?m)^parent line \d+$", text)) == len(written)
    finally:
        stop_writing.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        pipe.close()


def test_a_stuck_journal_stream_costs_dropped_lines_then_one_warning(tmp_path, servers):
    """stderr is the journal's stream socket (JOURNAL_STREAM names it):
    the same bounded queue, sends that never wait, the count and one
    `<4>log: N lines dropped` once the journal reads again."""
    echo = servers()
    port = free_port()
    text, sock = config(tmp_path, echo, port)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    st = os.fstat(theirs.fileno())
    conf = os.path.join(str(tmp_path), "netpolld.conf")
    write_config(conf, text)
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "WATCHDOG_USEC")}
    env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
    proc = subprocess.Popen([BINARY, "-c", conf], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=theirs.fileno(), env=env)
    theirs.close()
    data = bytearray()
    lock = threading.Lock()

    def journal():
        while True:
            b = ours.recv(1 << 16)
            if not b:
                return
            with lock:
                data.extend(b)

    def got():
        with lock:
            return bytes(data)
    try:
        deadline = time.monotonic() + TIMEOUT
        while b"ready (" not in data:           # the journal reads start-up...
            assert time.monotonic() < deadline, bytes(data)
            if select.select([ours], [], [], 0.1)[0]:
                data.extend(ours.recv(1 << 16))
        load(port)                              # ...then stops reading
        dropped = int(wait_all_closed(sock, LOAD_CONNS)["log_dropped"])
        assert dropped > 0
        reader = threading.Thread(target=journal, daemon=True)
        reader.start()
        rx = re.compile(rb"(?m)^<4>log: (\d+) lines dropped: the log reader was too slow$")
        m = wait_until(lambda: rx.search(got()), what="the lines-dropped warning")
        assert int(m.group(1)) == dropped
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT) == 0
        reader.join(TIMEOUT)
        out = got().decode(errors="replace")
        assert out.endswith("\n"), out[-300:]
        lines = out[:-1].split("\n")
        for ln in lines:
            assert re.fullmatch(r"<[3-7]>\S.*", ln), ln
        assert len(rx.findall(got())) == 1
        assert lines[-1] == "<6>stopped", lines[-3:]
        assert not [mk for mk in SANITIZER_MARKS if mk in out], out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        ours.close()
