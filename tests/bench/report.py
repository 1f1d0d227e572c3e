"""From every round's raw results to medians, netpolld/best ratios,
targets, and the table printed on stdout."""
import statistics
from dataclasses import dataclass

from peers import PEERS


@dataclass
class Row:
    key: str
    label: str
    workload: str
    metric: str
    higher_is_better: bool
    proxy_only: bool = False      # a figure about the proxy: "-" for direct
    target: tuple = None          # ("ratio" | "abs", "ge" | "le", value, unit)


ROWS = [
    Row("iperf3_up_gbps", "iperf3 up Gbit/s", "iperf3-up", "gbps", True,
        target=("ratio", "ge", 1.0, "")),
    Row("iperf3_down_gbps", "iperf3 down Gbit/s", "iperf3-down", "gbps", True,
        target=("ratio", "ge", 1.0, "")),
    Row("iperf3_up_cpu_ms_per_gb", "CPU ms/GB up", "iperf3-up", "cpu_ms_per_gb",
        False, True, ("ratio", "le", 0.8, "")),
    Row("iperf3_down_cpu_ms_per_gb", "CPU ms/GB down", "iperf3-down",
        "cpu_ms_per_gb", False, True, ("ratio", "le", 0.8, "")),
    Row("redis_rps", "redis req/s", "redis", "rps", True,
        target=("ratio", "ge", 1.1, "")),
    Row("redis_cpu_us_per_req", "CPU µs/req", "redis", "cpu_us_per_req", False,
        True, ("ratio", "le", 0.75, "")),
    Row("pingpong_p50_us", "ping-pong p50 µs", "pingpong", "p50_us", False,
        target=("ratio", "le", 0.9, "")),
    Row("pingpong_p99_us", "ping-pong p99 µs", "pingpong", "p99_us", False,
        target=("ratio", "le", 0.9, "")),
    Row("shortconn_cpu_us_per_conn", "short conn CPU µs/conn", "shortconn",
        "cpu_us_per_conn", False, True, ("ratio", "le", 0.8, "")),
    Row("shortconn_rps", "short conn req/s", "shortconn", "rps", True),
    Row("idle_rss_kib_per_conn", "RSS KiB per idle conn", "idle",
        "rss_kib_per_conn", False, True, ("abs", "le", 1.0, " KiB")),
    Row("idle_cpu_us_per_req", "CPU µs/req with 8000 idle", "idle",
        "cpu_us_per_req", False, True),
    # Per round: idle's CPU/req over redis's CPU/req, same proxy and round.
    Row("idle_cpu_ratio", "idle/no-idle CPU ratio", "idle", "cpu_ratio", False,
        True, ("abs", "le", 1.10, "")),
]


def _value(rounds, row, proxy, i):
    """Round I's figure for ROW and PROXY, or None."""
    results = rounds[i]["results"]
    r = results.get(row.workload, {}).get(proxy)
    if not r or "error" in r:
        return None
    if row.metric == "cpu_ratio":
        base = results.get("redis", {}).get(proxy) or {}
        if not base.get("cpu_us_per_req") or r.get("cpu_us_per_req") is None:
            return None
        return r["cpu_us_per_req"] / base["cpu_us_per_req"]
    return r.get(row.metric)


def medians(rounds, proxies):
    """{row key: {proxy: median over the rounds that produced it}};
    a proxy without any value is left out."""
    out = {}
    for row in ROWS:
        cells = {}
        for proxy in proxies:
            values = [v for v in (_value(rounds, row, proxy, i)
                                  for i in range(len(rounds))) if v is not None]
            if values:
                cells[proxy] = statistics.median(values)
        out[row.key] = cells
    return out


def _meets(value, op, limit):
    # Rounded as printed, so 0.80 shown is 0.80 met.
    value = round(value, 2)
    return value >= limit if op == "ge" else value <= limit


def ratios(meds):
    """{row key: {ratio, best_peer, target, met}} for netpolld against the
    best of haproxy, haproxy+splice and nginx."""
    out = {}
    for row in ROWS:
        cells = meds[row.key]
        peers = {p: v for p, v in cells.items() if p in PEERS}
        mine = cells.get("netpolld")
        entry = {"label": row.label, "ratio": None, "best_peer": None,
                 "target": None, "met": None}
        if peers:
            pick = max if row.higher_is_better else min
            entry["best_peer"] = pick(peers, key=peers.get)
            best = peers[entry["best_peer"]]
            if mine is not None and best:
                entry["ratio"] = mine / best
        if row.target:
            kind, op, limit, _ = row.target
            entry["target"] = {"of": kind, "op": op, "value": limit}
            judged = entry["ratio"] if kind == "ratio" else mine
            if judged is not None:
                entry["met"] = _meets(judged, op, limit)
        out[row.key] = entry
    return out


# ---- the table ----------------------------------------------------------------

def fmt(v):
    if v is None:
        return "-"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def _target_text(target):
    kind, op, limit, unit = target
    sign = "≥" if op == "ge" else "≤"
    text = f"{sign}{limit:.2f}{unit}"
    # An absolute target is judged on netpolld's own figure, not the ratio.
    return text if kind == "ratio" else text + " abs"


def _failed(rounds, row, proxy):
    """Whether a round tried ROW's workloads for PROXY and got an error."""
    needs = [row.workload] + (["redis"] if row.metric == "cpu_ratio" else [])
    return any("error" in r["results"].get(w, {}).get(proxy, {})
               for r in rounds for w in needs)


def _cell(rounds, row, proxy, meds):
    if proxy == "direct" and row.proxy_only:
        return "-"
    if proxy in meds[row.key]:
        return fmt(meds[row.key][proxy])
    return "err" if _failed(rounds, row, proxy) else "-"


def table(rounds, proxies, meds, rats):
    head = ["figure", *proxies, "netpolld/best", "target", ""]
    lines = []
    for row in ROWS:
        if not any(row.workload in r["results"] for r in rounds):
            continue
        rat = rats[row.key]
        mark = ""
        if row.target:
            mark = {True: "met", False: "NOT met", None: "n/a"}[rat["met"]]
        lines.append([row.label, *(_cell(rounds, row, p, meds) for p in proxies),
                      fmt(rat["ratio"]),
                      _target_text(row.target) if row.target else "", mark])
    widths = [max(len(x[i]) for x in [head] + lines) for i in range(len(head))]

    def render(cols):
        first = cols[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cols[1:-2], widths[1:-2])]
        return "  ".join([first, *rest, cols[-2].ljust(widths[-2]), cols[-1]]).rstrip()

    out = [render(head), "-" * (sum(widths) + 2 * (len(widths) - 1))]
    out += [render(x) for x in lines]
    return "\n".join(out)
