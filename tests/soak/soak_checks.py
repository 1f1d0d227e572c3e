"""The soak's verdict on the connections: every client connection is
matched to the daemon's log line for it, every connection that did not
complete is explained by a fault the soak injected, every completed one
carried exactly the bytes sent, and the stats socket's totals agree with
the log and the clients.

Matching. The log names a connection by listener and client address.
A PROXY client's address is a source made up for it alone; any other
client's is its local address, which the kernel reuses, but never for
two connections to one listener at once: within a (listener, client)
key, the clients' connect order is the daemon's accept order, which is
the order of conn= ids.

Explanations. A client reset (cut_client) must be logged end=client_reset;
a connection cut by the other side must be logged end=server_reset or
server_close on a server the soak killed while the connection was open
(its start, from the line's time minus duration_ms, before the kill had
finished, and its end after it began; KILL_SLACK_S of clock slack is
only ever in the connection's favour). A kill may also be what ended a
connection the client was resetting, or one that had received all it
wanted.
"""
import collections
import datetime
import re

KILL_SLACK_S = 2.0
_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z ")
_FIELD = re.compile(r"(\w+)=(\S+)")
INT_FIELDS = ("conn", "connect_ms", "duration_ms", "bytes_in", "bytes_out", "retries")


def parse_conn_lines(text):
    """The connection lines of the log, parsed: fields, ints, "ts" (epoch)."""
    out = []
    for line in text.splitlines():
        if " conn=" not in line or " end=" not in line:
            continue
        m = _TS.match(line)
        f = dict(_FIELD.findall(line))
        for k in INT_FIELDS:
            f[k] = int(f.get(k, -1))
        f["ts"] = datetime.datetime.fromisoformat(m.group(1)).replace(
            tzinfo=datetime.timezone.utc).timestamp() if m else 0.0
        f["line"] = line
        out.append(f)
    return out


class Verdict:
    def __init__(self):
        self.failures = []          # (what, details)
        self.connections = 0
        self.cut = 0
        self.explained = 0
        self.bytes = 0              # both ways, as the log counts them
        self.bytes_lost = 0
        self.ends = collections.Counter()
        self.outcomes = collections.Counter()

    def fail(self, what, detail=""):
        self.failures.append((what, detail))


def _fmt(rec, line):
    r = {k: rec.get(k) for k in ("shape", "outcome", "detail", "sent", "kernel_sent", "recvd",
                                 "eof", "up", "down", "prefix_ok", "probe") if k in rec}
    return f"client: {r}\n      log: {line['line'] if line else '(no line)'}"


class Checker:
    def __init__(self, records, lines, kills):
        self.records, self.lines, self.kills = records, lines, kills
        self.v = Verdict()
        self.pairs = []
        self.by_server = collections.defaultdict(list)
        for k in kills:
            self.by_server[(k["backend"], k["server"])].append(k)

    def killed_during(self, line):
        if line["server"] == "-" or line["end"] not in ("server_reset", "server_close"):
            return False
        start = line["ts"] - line["duration_ms"] / 1000.0
        for k in self.by_server.get((line["backend"], line["server"]), ()):
            if start - KILL_SLACK_S <= k["t_end"] and line["ts"] + KILL_SLACK_S >= k["t_begin"]:
                return True
        return False

    def run(self):
        v = self.v
        v.connections = len(self.records)
        for rec in self.records:
            v.outcomes[rec["outcome"]] += 1
        pairs, lone_recs, lone_lines = self.match()
        self.pairs = pairs
        for rec in lone_recs[:5]:
            v.fail("a client connection with no log line", _fmt(rec, None))
        if lone_recs:
            v.fail(f"{len(lone_recs)} client connections have no log line")
        for line in lone_lines[:5]:
            v.fail("a log line no client connection matches", line["line"])
        if lone_lines:
            v.fail(f"{len(lone_lines)} log lines match no client connection")
        for rec in self.records:
            if rec["outcome"] == "connect_failed":
                v.fail("the proxy refused a connection", _fmt(rec, None))
        for line in self.lines:
            v.ends[line["end"]] += 1
            v.bytes += line["bytes_in"] + line["bytes_out"]
        unexplained = []
        for rec, line in pairs:
            problem = self.judge(rec, line)
            if problem:
                unexplained.append((problem, rec, line))
        for problem, rec, line in unexplained[:8]:
            v.fail(problem, _fmt(rec, line))
        if len(unexplained) > 8:
            v.fail(f"... and {len(unexplained) - 8} more connections like those")
        return v

    def match(self):
        recs = collections.defaultdict(list)
        for rec in self.records:
            if rec["outcome"] != "connect_failed" and rec.get("key"):
                recs[(rec["listener"], rec["key"])].append(rec)
        lines = collections.defaultdict(list)
        for line in self.lines:
            lines[(line["listener"], line["client"])].append(line)
        pairs, lone_recs, lone_lines = [], [], []
        for key in set(recs) | set(lines):
            rs = sorted(recs.get(key, ()), key=lambda r: r["t0"])
            ls = sorted(lines.get(key, ()), key=lambda ln: ln["conn"])
            pairs += zip(rs, ls)
            lone_recs += rs[len(ls):]
            lone_lines += ls[len(rs):]
        return pairs, lone_recs, lone_lines

    def judge(self, rec, line):
        """None if REC and its LINE agree and any cut is explained; else
        what is wrong."""
        v, out, end = self.v, rec["outcome"], line["end"]
        if out == "ok":
            lost = abs(line["bytes_in"] - rec["sent"]) + abs(line["bytes_out"] - rec["recvd"])
            if lost:
                v.bytes_lost += lost
                return "a completed connection whose log counts other bytes"
            if end in ("client_close", "server_close") or self.killed_during(line):
                return None
            return f"a completed connection logged end={end}"
        if out in ("cut_client", "cut"):
            v.cut += 1
            if not rec.get("prefix_ok", False):
                v.bytes_lost += rec["recvd"]
                return "a cut connection received bytes that are not what the server sent"
            if line["bytes_in"] > rec["kernel_sent"] or line["bytes_out"] < rec["recvd"]:
                return "a cut connection whose log counts bytes the client never moved"
            if out == "cut" and rec["eof"] and line["bytes_out"] != rec["recvd"]:
                v.bytes_lost += line["bytes_out"] - rec["recvd"]
                return "a cut connection ended by a FIN before all the log says it delivered"
            if (out == "cut_client" and end == "client_reset") or self.killed_during(line):
                v.explained += 1
                return None
            if out == "cut_client":
                return f"a client reset logged end={end}"
            return f"an unexplained cut (end={end})"
        if out == "bad":
            v.bytes_lost += rec["sent"] + rec["recvd"]
            return "wrong bytes: " + rec["detail"]
        if out == "stalled":
            return "a stalled connection: " + rec["detail"]
        return f"outcome {out}"


def check_stats(info, rows, checker):
    """show info and show stat against the log lines and the clients'
    own counts: all of a completed connection's bytes as the client
    counted them (a PROXY header is not relayed payload, so it is never
    counted), and for a connection cut short, what the log says the
    daemon delivered (judge() has held that against the client's bounds)."""
    v, lines = checker.v, checker.lines
    n = len([r for r in checker.records if r["outcome"] != "connect_failed"])
    total = int(info["connections_total"])
    if not total == len(lines) == n:
        v.fail("connection totals disagree",
               f"show info connections_total={total}, log lines={len(lines)}, client "
               f"connections={n}")
    for key in ("bytes_in", "bytes_out"):
        logged = sum(ln[key] for ln in lines)
        if int(info[key]) != logged:
            v.fail(f"show info {key} disagrees with the log", f"{info[key]} vs {logged}")
    by_log = collections.defaultdict(lambda: [0, 0, 0])
    for ln in lines:
        b = by_log[ln["listener"]]
        b[0] += 1
        b[1] += ln["bytes_in"]
        b[2] += ln["bytes_out"]
    by_client = collections.defaultdict(lambda: [0, 0, 0])
    for rec, ln in checker.pairs:
        c = by_client[rec["listener"]]
        c[0] += 1
        ok = rec["outcome"] == "ok"
        c[1] += rec["sent"] if ok else ln["bytes_in"]
        c[2] += rec["recvd"] if ok else ln["bytes_out"]
    by_backend = collections.defaultdict(lambda: [0, 0, 0])
    for ln in lines:
        b = by_backend[ln["backend"]]
        b[0] += 1
        b[1] += ln["bytes_in"]
        b[2] += ln["bytes_out"]
    for row in rows:
        if row["type"] == "backend":
            got = [int(row["total"]), int(row["bytes_in"]), int(row["bytes_out"])]
            if got != by_backend[row["name"]]:
                v.fail(f"show stat backend {row['name']} disagrees with the log",
                       f"total,bytes_in,bytes_out: stat {got}, log {by_backend[row['name']]}")
        if row["type"] != "listener":
            continue
        got = [int(row["total"]), int(row["bytes_in"]), int(row["bytes_out"])]
        for what, want in (("the log", by_log[row["name"]]),
                           ("the clients", by_client[row["name"]])):
            if got != want:
                v.fail(f"show stat listener {row['name']} disagrees with {what}",
                       f"total,bytes_in,bytes_out: stat {got}, {what} {want}")
        if int(row["cur"]) != 0:
            v.fail(f"listener {row['name']} still has {row['cur']} connections")
