"""Tiny, valid binary fixtures built at import time (no binary files in the tree): a PNG and a WAV."""

import base64
import math
import struct
import zlib


def png(width: int = 1, height: int = 1, rgb: tuple[int, int, int] = (220, 38, 38)) -> bytes:
    """A solid-colour RGB PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * height, 9))
            + chunk(b"IEND", b""))


def wav(milliseconds: int = 50, frequency: float = 440.0, rate: int = 8000) -> bytes:
    """A mono 8-bit PCM tone."""
    count = rate * milliseconds // 1000
    samples = bytes(int(128 + 100 * math.sin(2 * math.pi * frequency * i / rate)) for i in range(count))
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate, 1, 8)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(samples)) + samples
    return b"RIFF" + struct.pack("<I", len(body)) + body


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


RED_PIXEL_PNG = b64(png())
LOGO_PNG = b64(png(4, 4, (0, 120, 212)))
TONE_WAV = b64(wav())
