#!/usr/bin/env python3
"""Draw Tether's app icon and the tray's per-state icons as PNGs, with the standard library only.

    python3 icons/make_icons.py      (writes the PNGs next to this script)

A ring (the link) around a dot (the device), coloured by state: green connected, amber
reconnecting or recovering, red failed (gave up, credentials refused), grey paused.
"""
import math
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def png(path, size, pixel):
    rows = []
    for y in range(size):
        row = bytearray([0])  # filter: none
        for x in range(size):
            row.extend(pixel(x + 0.5, y + 0.5, size))
        rows.append(bytes(row))
    raw = b"".join(rows)

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def badge(rgb):
    def pixel(x, y, size):
        c = size / 2
        r = math.hypot(x - c, y - c) / (size / 2)
        ring = 0.78 <= r <= 0.96
        dot = r <= 0.38
        if ring or dot:
            return bytes(rgb) + b"\xff"
        return b"\x00\x00\x00\x00"

    return pixel


STATES = {
    "connected": (46, 160, 67),
    "reconnecting": (219, 154, 4),
    "failed": (207, 34, 46),
    "paused": (128, 128, 128),
}

if __name__ == "__main__":
    for name, rgb in STATES.items():
        png(os.path.join(HERE, f"tray-{name}.png"), 32, badge(rgb))
    png(os.path.join(HERE, "icon.png"), 128, badge((31, 111, 235)))
    print("icons written to", HERE)
