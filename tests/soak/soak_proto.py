"""The soak's wire protocol between its clients and its backend servers
(tests/soak/soak_server.py), and the PROXY headers its clients send.

A client opens with a fixed 48-byte header saying what it will send and
what it wants back; the server hashes every payload byte it receives,
sends a deterministic pseudo-random stream, and ends with an 80-byte
trailer: the counts and sha256 of what it received and of what it sent.
The client compares the trailer with its own hashes, so each direction
is checked end to end, byte for byte, without either side keeping data.

Streams are slices of one fixed pseudo-random block (its length is not a
power of two, so a lost or repeated buffer-sized chunk cannot line up),
starting at an offset given by a seed: cheap to produce (no copy, no
random generator per byte) and cheap to verify as a prefix after a cut.
"""
import hashlib
import random
import socket
import struct

MAGIC = b"SOAK"
# magic, mode, flags, reserved, rounds, up bytes per round, down bytes per
# round, seed of the down stream, tag (the client's connection id).
HEADER = struct.Struct("!4sBBHIQQQQ4x")
# received count, sent count, sha256(received), sha256(sent) — payload
# only: the header and the trailer are not part of either stream — and
# the source of the PROXY header the proxy sent first (send_proxy), as
# "IP:PORT" or "[IP]:PORT", NUL-padded; empty if it sent none.
TRAILER = struct.Struct("!QQ32s32s48s")

# STREAM: one round; the server reads UP bytes while it sends DOWN bytes.
# SEQ: ROUNDS rounds of "read UP bytes, then send DOWN bytes".
MODE_STREAM, MODE_SEQ = 1, 2
# SEQ with one round: the client's FIN must follow its UP bytes, and only
# then does the server answer (a half-closed request).
FLAG_HALF_CLOSE = 1

CHUNK = 256 * 1024              # largest slice handed out at once
BLOCK_LEN = (1 << 20) + 4093    # prime-ish, not a multiple of any buffer size
_BLOCK = random.Random(0x50A4).randbytes(BLOCK_LEN)
_BLOCK2 = memoryview(_BLOCK + _BLOCK[:CHUNK])


def stream_slice(seed, pos, n):
    """Bytes POS .. POS+N (N <= CHUNK) of the stream SEED, without a copy."""
    off = (seed + pos) % BLOCK_LEN
    return _BLOCK2[off:off + n]


def stream_hash(seed, n):
    """sha256 of the first N bytes of the stream SEED."""
    h = hashlib.sha256()
    pos = 0
    while pos < n:
        k = min(CHUNK, n - pos)
        h.update(stream_slice(seed, pos, k))
        pos += k
    return h.digest()


def pack_header(mode, flags, rounds, up, down, seed, tag):
    return HEADER.pack(MAGIC, mode, flags, 0, rounds, up, down, seed, tag)


def unpack_header(raw):
    """(mode, flags, rounds, up, down, seed, tag); ValueError if RAW is not
    a header this protocol would send."""
    magic, mode, flags, _, rounds, up, down, seed, tag = HEADER.unpack(raw)
    if magic != MAGIC or mode not in (MODE_STREAM, MODE_SEQ):
        raise ValueError(f"not a soak header: {bytes(raw[:16])!r}")
    if mode == MODE_STREAM and rounds != 1:
        raise ValueError(f"stream header with {rounds} rounds")
    return mode, flags, rounds, up, down, seed, tag


def pack_trailer(n_in, n_out, h_in, h_out, proxy_src=""):
    return TRAILER.pack(n_in, n_out, h_in, h_out, proxy_src.encode())


def unpack_trailer(raw):
    n_in, n_out, h_in, h_out, src = TRAILER.unpack(raw)
    return n_in, n_out, h_in, h_out, src.rstrip(b"\0").decode()


# ---- PROXY protocol headers (haproxy.org proxy-protocol.txt) ----------------

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def _family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def proxy_v1(src, sport, dst, dport):
    proto = "TCP6" if ":" in src else "TCP4"
    return f"PROXY {proto} {src} {dst} {sport} {dport}\r\n".encode()


def proxy_v1_unknown():
    return b"PROXY UNKNOWN\r\n"


def proxy_v2(src, sport, dst, dport, tlvs=b""):
    """A v2 PROXY command header; SRC and DST must be of one family."""
    f = _family(src)
    block = socket.inet_pton(f, src) + socket.inet_pton(f, dst) + struct.pack("!HH", sport, dport)
    fam = 0x21 if f == socket.AF_INET6 else 0x11
    body = block + tlvs
    return V2_SIG + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


def proxy_v2_local(tlvs=b""):
    """A v2 LOCAL header: the connection keeps its real addresses."""
    return V2_SIG + bytes([0x20, 0x00]) + struct.pack("!H", len(tlvs)) + tlvs


def proxy_tlv(kind, value):
    return bytes([kind]) + struct.pack("!H", len(value)) + value


def parse_proxy_source(hdr):
    """The source of a complete PROXY header HDR as "IP:PORT" / "[IP]:PORT",
    or "" for v1 UNKNOWN and v2 LOCAL; ValueError if HDR is not one."""
    if hdr.startswith(b"PROXY "):
        words = hdr[:-2].decode("ascii").split(" ")
        if words[1] == "UNKNOWN":
            return ""
        if words[1] not in ("TCP4", "TCP6") or len(words) != 6:
            raise ValueError(f"bad v1 header {hdr!r}")
        src, port = canonical_ip(words[2]), int(words[4])
    elif hdr.startswith(V2_SIG):
        cmd, fam = hdr[12], hdr[13]
        if cmd == 0x20:
            return ""
        if cmd != 0x21 or fam not in (0x11, 0x21):
            raise ValueError(f"bad v2 header {hdr[:16]!r}")
        f, n = (socket.AF_INET, 4) if fam == 0x11 else (socket.AF_INET6, 16)
        src = socket.inet_ntop(f, hdr[16:16 + n])
        (port,) = struct.unpack("!H", hdr[16 + 2 * n:18 + 2 * n])
    else:
        raise ValueError(f"not a PROXY header: {hdr[:16]!r}")
    return f"[{src}]:{port}" if ":" in src else f"{src}:{port}"


def canonical_ip(host):
    """HOST as the daemon prints it (inet_ntop)."""
    f = _family(host)
    return socket.inet_ntop(f, socket.inet_pton(f, host))
