#!/usr/bin/env python3
"""png_check.py FILE...: decode each PNG with nothing but zlib (chunk CRCs,
IHDR, IDAT, the five row filters) and print

    FILE: PNG WIDTHxHEIGHT gray|rgb, N colours, M% not background

where the background is the most common pixel. Exits 1 with a message when a
file is not an 8-bit, non-interlaced gray or RGB PNG that decodes completely,
or when it is blank (a single colour)."""
import collections
import struct
import sys
import zlib


def fail(path, why):
    sys.exit(f"png_check: {path}: {why}")


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def decode(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(path, "no PNG signature")
    pos, idat, header, ended = 8, b"", None, False
    while pos < len(data):
        if pos + 8 > len(data):
            fail(path, "truncated chunk header")
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length or pos + 12 + length > len(data):
            fail(path, f"truncated {kind!r} chunk")
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            fail(path, f"bad CRC in {kind!r} chunk")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            ended = True
            break
        pos += 12 + length
    if header is None or not ended:
        fail(path, "no IHDR or no IEND")
    width, height, depth, color, _, _, interlace = header
    if depth != 8 or color not in (0, 2) or interlace != 0:
        fail(path, f"not 8-bit non-interlaced gray/RGB (depth {depth}, colour type {color})")
    channels = 1 if color == 0 else 3
    raw = zlib.decompress(idat)
    stride = width * channels
    if len(raw) != height * (stride + 1):
        fail(path, f"{len(raw)} bytes of image data, expected {height * (stride + 1)}")
    pixels, prev = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                line[i] = (line[i] + paeth(a, b, c)) & 255
            elif kind != 0:
                fail(path, f"unknown row filter {kind}")
        pixels.extend(bytes(line[i:i + channels]) for i in range(0, stride, channels))
        prev = line
    return width, height, channels, pixels


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for path in sys.argv[1:]:
        width, height, channels, pixels = decode(path)
        counts = collections.Counter(pixels)
        background = counts.most_common(1)[0][1]
        if len(counts) < 2:
            fail(path, f"blank: every pixel is {pixels[0].hex()}")
        share = 100 * (len(pixels) - background) // len(pixels)
        print(f"{path}: PNG {width}x{height} {'gray' if channels == 1 else 'rgb'}, "
              f"{len(counts)} colours, {share}% not background")


main()
