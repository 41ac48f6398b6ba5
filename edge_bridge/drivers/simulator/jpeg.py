"""A tiny valid baseline JPEG (8x8 mid-grey), so simulated reads carry real image bytes.

Built by hand rather than shipped as a binary: one 8x8 block whose DC and AC coefficients are
all zero, Huffman tables with a single one-bit code each (DC category 0, AC end-of-block).
"""

from __future__ import annotations

import struct


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", 0xFF00 | marker, len(payload) + 2) + payload


def tiny_jpeg(width: int = 8, height: int = 8) -> bytes:
    """A grey baseline JPEG; ``width`` and ``height`` must be multiples of 8 up to 64."""
    if width % 8 or height % 8 or not 8 <= width <= 64 or not 8 <= height <= 64:
        raise ValueError("width and height must be multiples of 8 within 8..64")
    blocks = (width // 8) * (height // 8)
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    dqt = b"\x00" + bytes([1] * 64)
    sof0 = struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00"
    dht_dc = b"\x00" + bytes([1] + [0] * 15) + b"\x00"
    dht_ac = b"\x10" + bytes([1] + [0] * 15) + b"\x00"
    sos = b"\x01\x01\x00\x00\x3f\x00"
    # Each block is two zero bits (DC diff category 0, then EOB); pad the last byte with ones.
    bits = "00" * blocks
    bits += "1" * (-len(bits) % 8)
    scan = bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8))
    return (
        b"\xff\xd8"
        + _segment(0xE0, app0)
        + _segment(0xDB, dqt)
        + _segment(0xC0, sof0)
        + _segment(0xC4, dht_dc)
        + _segment(0xC4, dht_ac)
        + _segment(0xDA, sos)
        + scan
        + b"\xff\xd9"
    )
