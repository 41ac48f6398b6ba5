"""``generic_led``: a small length-prefixed text frame for LED screens (our own protocol).

Real parking screens each speak a vendor frame (often ``00 64 FF FF`` … GBK … CRC16, software.md
§5.4); ``generic_led`` is what we document for integrators and for screen controllers that let us
choose. The frame (all integers big-endian)::

    offset  size  field
    0       2     magic  b"CG"
    2       1     version 0x01
    3       1     flags: bit0 encoding (0 UTF-8, 1 GBK); bit7 acknowledgement from the screen
    4       2     N = payload length in bytes (0..65535)
    6       N     payload: the lines joined by LF (0x0A), in the flagged encoding
    6+N     2     CRC-16/MODBUS over bytes 0..6+N-1

The screen answers every frame with an empty frame whose flags have bit7 set (ACK), or closes the
connection. A CRC keeps the frame usable behind RS-485 converters that may corrupt bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC = b"CG"
VERSION = 1
FLAG_GBK = 0x01
FLAG_ACK = 0x80
HEADER = struct.Struct(">2sBBH")
ENCODINGS = {"utf-8": 0, "gbk": FLAG_GBK}


class FrameError(ValueError):
    pass


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF); check value of b"123456789" 0x4B37."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


@dataclass(frozen=True, slots=True)
class LedFrame:
    lines: tuple[str, ...]
    encoding: str = "utf-8"
    ack: bool = False


def encode_frame(
    lines: list[str] | tuple[str, ...], encoding: str = "utf-8", *, ack: bool = False
) -> bytes:
    if encoding not in ENCODINGS:
        raise FrameError(f"encoding must be one of {sorted(ENCODINGS)}")
    if any("\n" in line for line in lines):
        raise FrameError("a line may not contain LF; pass one string per line")
    payload = "\n".join(lines).encode(encoding)  # raises on characters GBK can't carry
    if len(payload) > 0xFFFF:
        raise FrameError("payload longer than 65535 bytes")
    flags = ENCODINGS[encoding] | (FLAG_ACK if ack else 0)
    body = HEADER.pack(MAGIC, VERSION, flags, len(payload)) + payload
    return body + struct.pack(">H", crc16_modbus(body))


def frame_length(header: bytes) -> int:
    """Total frame length from its first 6 bytes (for stream readers)."""
    magic, version, _flags, length = HEADER.unpack(header)
    if magic != MAGIC or version != VERSION:
        raise FrameError("not a generic_led frame")
    return HEADER.size + int(length) + 2


def decode_frame(frame: bytes) -> LedFrame:
    if len(frame) < HEADER.size + 2:
        raise FrameError("frame too short")
    total = frame_length(frame[: HEADER.size])
    if len(frame) != total:
        raise FrameError(f"frame length {len(frame)} != declared {total}")
    (crc,) = struct.unpack(">H", frame[-2:])
    if crc != crc16_modbus(frame[:-2]):
        raise FrameError("CRC mismatch")
    flags = frame[3]
    encoding = "gbk" if flags & FLAG_GBK else "utf-8"
    payload = frame[HEADER.size : -2].decode(encoding)
    lines = tuple(payload.split("\n")) if payload else ()
    return LedFrame(lines, encoding, bool(flags & FLAG_ACK))


def encode_text(lines: list[str] | tuple[str, ...], encoding: str = "gbk") -> bytes:
    """Bare text, lines separated by CRLF: the fallback for screens behind a camera's RS-485."""
    return "\r\n".join(lines).encode(encoding, "replace")
