"""`netpollctl watch` in a real terminal (tmux) against the real daemon,
as netpollctl(1) THE WATCH SCREEN says: lines are cut at the terminal's
width and the table at its height (the last line saying how many did not
fit), the frame is redrawn when the terminal is resized, and Ctrl-Z gives
the terminal back before stopping and takes it again when continued."""
import re
import shlex
import shutil

import pytest

from conftest import conf_text, echo_handler, free_port, wait_until
from test_netpollctl import NETPOLLCTL, Tmux

SERVERS = 30
# The frame: three status lines, an empty one, the table's header, the
# listener, the backend and its servers.
FRAME_LINES = 3 + 1 + 1 + 1 + 1 + SERVERS


@pytest.fixture
def term(tmp_path):
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    t = Tmux(tmp_path)
    yield t
    t.close()


@pytest.fixture
def sock(netpolld, servers, tmp_path):
    """A daemon with a backend of SERVERS servers (no checks: all UP)."""
    echo = servers(echo_handler)
    path = str(tmp_path / "stats.sock")
    addrs = [echo.address] + [f"127.0.0.1:{20000 + i}" for i in range(SERVERS - 1)]
    netpolld(conf_text(f"127.0.0.1:{free_port()}", addrs,
                       global_={"stats_socket": f'"{path}"'}))
    return path


def lines(screen):
    return screen.rstrip("\n").split("\n")


def test_watch_fits_the_frame_to_the_terminal_and_redraws_on_resize(sock, term):
    term.start_watch(sock)
    full = term.wait_screen(lambda s: "127.0.0.1:20028" in s and s, "a full frame")
    assert "more lines" not in full, full

    cols, rows = 50, 12
    term.run("resize-window", "-t", "w", "-x", str(cols), "-y", str(rows))
    more = f"({FRAME_LINES - (rows - 1)} more lines)"
    screen = term.wait_screen(lambda s: more in s and s, f"a {cols}x{rows} frame")
    shown = lines(screen)
    # Nothing scrolled or wrapped: the first line is still the title, each
    # row holds one line of the frame, cut, and the last says the rest.
    assert len(shown) == rows, screen
    assert shown[0].startswith("netpollctl watch  "), screen
    assert shown[1].startswith("netpolld "), screen
    assert shown[-1] == more, screen
    assert all(len(ln) <= cols for ln in shown), screen
    term.keys("q")
    status, tty_same, after = term.wait_done()
    assert status == 0 and tty_same, after


def tty_check(term, before, tag):
    """Has the shell compare the terminal settings with those saved in
    BEFORE; returns "same" or "changed". Only the output, not the echoed
    command, has TAG-TTY- right before the word."""
    term.type(f"echo {tag}-TTY-$(stty -g | cmp -s - {before} && echo same || echo changed)")
    term.keys("Enter")
    rx = re.compile(tag + r"-TTY-(same|changed)")
    return term.wait_screen(lambda s: (m := rx.search(s)) and m.group(1),
                            f"the shell's {tag} terminal check")


def test_ctrl_z_gives_the_terminal_back_and_fg_takes_it_again(sock, term, tmp_path):
    q = shlex.quote
    before = q(str(tmp_path / "tty.before"))
    pidfile = tmp_path / "watch.pid"
    term.type(f"stty -g > {before}")
    term.keys("Enter")
    term.type(f"sh -c 'echo $$ > {q(str(pidfile))}; exec {q(NETPOLLCTL)} -s {q(sock)} watch'")
    term.keys("Enter")
    wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), what="watch's pid")
    pid = int(pidfile.read_text())
    term.wait_screen(lambda s: "CONN/S" in s, "a watch frame")
    assert term.flag("alternate_on") == "1"

    term.keys("C-z")

    def state():
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    wait_until(lambda: state() == "T", what="watch to stop")
    wait_until(lambda: term.flag("alternate_on") == "0", what="the normal screen back")
    assert term.flag("cursor_flag") == "1"
    assert tty_check(term, before, "STOPPED") == "same"

    term.type("fg")
    term.keys("Enter")
    wait_until(lambda: term.flag("alternate_on") == "1", what="watch to take the screen again")
    term.wait_screen(lambda s: "CONN/S" in s, "a frame after fg")
    assert state() in ("S", "R"), state()
    term.keys("q")
    wait_until(lambda: term.flag("alternate_on") == "0", what="the normal screen after q")
    assert tty_check(term, before, "AFTER") == "same"
