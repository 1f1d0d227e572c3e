"""The shapes of the soak's client connections: what each kind sends,
what it asks back, how it reads, and how it ends. A plan is pure data;
soak_conn.py carries it out over a socket.

| shape        | what it does                                                  |
|--------------|---------------------------------------------------------------|
| bulk_up      | sends megabytes, gets only the trailer                        |
| bulk_down    | sends the header, gets megabytes                              |
| bulk_both    | megabytes both ways at once                                   |
| rr           | many small request/response round trips                      |
| half_close   | sends, shuts its write side, then reads the whole answer      |
| slow_reader  | gets a bulk answer, reads a little at a time, sleeping between|
| client_reset | bulk both ways, cut mid-transfer with an RST (SO_LINGER 0)    |
| idle         | opens, waits seconds without a byte, then exchanges a little  |
| proxy_*      | one of the above on the accept_proxy listener, after a PROXY  |
|              | v1 or v2 header (a unique source, or UNKNOWN / LOCAL)         |
"""
import dataclasses
import math

from soak_proto import FLAG_HALF_CLOSE, MODE_SEQ, MODE_STREAM

KiB, MiB = 1 << 10, 1 << 20

# How often each shape is started (a slot picks one per connection). The
# share of concurrent connections differs: idle and slow ones live longer.
MIX = {
    "bulk_up": 7, "bulk_down": 7, "bulk_both": 7, "rr": 18, "half_close": 12,
    "slow_reader": 9, "client_reset": 6, "idle": 14, "proxy": 20,
}
# What a PROXY-header client does after its header.
PROXY_SHAPES = ("rr", "bulk_up", "bulk_down", "bulk_both", "half_close", "idle")
# PROXY header kinds and how often each is used.
PROXY_KINDS = {"v1": 4, "v2": 4, "v2_tlv": 2, "v1_unknown": 1, "v2_local": 1}
# Longest a slow reader should take to read its answer (it is bounded:
# the daemon's idle_timeout is far longer, and the soak must end).
SLOW_READ_S = 6.0
IDLE_S = (1.0, 5.0)


@dataclasses.dataclass
class Plan:
    shape: str                  # a MIX key, or proxy_<shape>
    mode: int                   # soak_proto MODE_*
    flags: int = 0
    rounds: int = 1
    up: int = 0                 # bytes per round, client -> server
    down: int = 0               # bytes per round, server -> client
    seed_up: int = 0            # stream offsets
    seed_down: int = 0
    proxy: str = None           # a PROXY_KINDS key, or None
    proxy_split: bool = False   # send the PROXY header in two pieces
    idle_s: float = 0.0         # sleep before the first round
    header_first: bool = False  # idle: the soak header goes before the sleep
    slow: tuple = None          # (read size, min sleep s, max sleep s)
    cut: tuple = None           # ("up" | "down", bytes): reset after that many

    @property
    def total_up(self):
        return self.rounds * self.up

    @property
    def total_down(self):
        return self.rounds * self.down


def _logsize(rng, lo, hi):
    """A size between LO and HI, uniform on a log scale (many small, some big)."""
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _size_or_zero(rng, lo, hi, p_zero=0.1):
    return 0 if rng.random() < p_zero else _logsize(rng, lo, hi)


def _base(rng, shape, mode):
    return Plan(shape=shape, mode=mode, seed_up=rng.getrandbits(40),
                seed_down=rng.getrandbits(40))


def plan_for(rng, shape, bulk_scale=1.0):
    """A plan of SHAPE with its sizes drawn from RNG. BULK_SCALE scales
    the bulk sizes (the soak lowers it when the machine is slow)."""
    big = max(64 * KiB, int(8 * MiB * bulk_scale))
    if shape == "bulk_up":
        p = _base(rng, shape, MODE_STREAM)
        p.up = _logsize(rng, 64 * KiB, big)
    elif shape == "bulk_down":
        p = _base(rng, shape, MODE_STREAM)
        p.down = _logsize(rng, 64 * KiB, big)
    elif shape == "bulk_both":
        p = _base(rng, shape, MODE_STREAM)
        p.up = _logsize(rng, 64 * KiB, big // 2)
        p.down = _logsize(rng, 64 * KiB, big // 2)
    elif shape == "rr":
        p = _base(rng, shape, MODE_SEQ)
        p.rounds = rng.randint(5, 200)
        p.up = _logsize(rng, 1, 2 * KiB)
        p.down = _logsize(rng, 1, 16 * KiB)
    elif shape == "half_close":
        p = _base(rng, shape, MODE_SEQ)
        p.flags = FLAG_HALF_CLOSE
        p.up = _size_or_zero(rng, 1, MiB)
        p.down = _size_or_zero(rng, 1, MiB)
    elif shape == "slow_reader":
        p = _base(rng, shape, MODE_STREAM)
        p.up = _size_or_zero(rng, 1, KiB, p_zero=0.5)
        p.down = _logsize(rng, 256 * KiB, 2 * MiB)
        lo, hi = 0.005, 0.04
        # Enough per read that the whole answer takes about SLOW_READ_S.
        reads = SLOW_READ_S / ((lo + hi) / 2)
        read = max(rng.randint(2 * KiB, 32 * KiB), int(p.down / reads))
        p.slow = (read, lo, hi)
    elif shape == "client_reset":
        p = _base(rng, shape, MODE_STREAM)
        p.up = _logsize(rng, 256 * KiB, max(256 * KiB + 1, big // 2))
        p.down = _logsize(rng, 256 * KiB, max(256 * KiB + 1, big // 2))
        side = rng.choice(("up", "down"))
        total = p.up if side == "up" else p.down
        p.cut = (side, max(1, int(total * rng.uniform(0.05, 0.9))))
    elif shape == "idle":
        p = _base(rng, shape, MODE_SEQ)
        p.rounds = rng.randint(1, 3)
        p.up = _logsize(rng, 1, 512)
        p.down = _logsize(rng, 1, 4 * KiB)
        p.idle_s = rng.uniform(*IDLE_S)
        p.header_first = rng.random() < 0.5
    elif shape == "proxy":
        inner = rng.choice(PROXY_SHAPES)
        p = plan_for(rng, inner, bulk_scale)
        if inner == "idle":
            # The whole PROXY header must come within 5 s of the accept:
            # it goes first, so only the soak header waits.
            p.idle_s = min(p.idle_s, 3.0)
        p.shape = f"proxy_{inner}"
        p.proxy = _weighted(rng, PROXY_KINDS)
        p.proxy_split = rng.random() < 0.3
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return p


def _weighted(rng, weights):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def random_plan(rng, bulk_scale=1.0):
    return plan_for(rng, _weighted(rng, MIX), bulk_scale)
