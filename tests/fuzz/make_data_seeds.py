#!/usr/bin/env python3
"""Seeds for the data fuzzer (data_fuzzer.cpp): one small valid input per
kind of data path, in its format (first byte: the kind; "@@@@" between
files). Standard library only.

    tests/fuzz/make_data_seeds.py DIR
"""
import gzip
import io
import struct
import sys
import zipfile
import zlib
from pathlib import Path

SEP = b"@@@@"


def npy(shape, descr, payload):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, "".join("%d," % d for d in shape))
    header = header.encode() + b" " * ((64 - (10 + len(header) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload


def idx(shape, payload):
    return bytes([0, 0, 8, len(shape)]) + b"".join(struct.pack(">I", d) for d in shape) + payload


def png(width, height, grey, rgb=False):
    channels = 3 if rgb else 1
    rows = b"".join(b"\x00" + bytes((grey + x + y) % 256 for x in range(width) for _ in range(channels))
                    for y in range(height))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2 if rgb else 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def npz(members, deflate):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name + ".npy", data)
    return out.getvalue()


def checkpoint():
    """A version-4 checkpoint of 2 regions of 3 values, without its checksum
    (data_fuzzer.cpp appends it and sets the length)."""
    def string(t):
        return struct.pack("<I", len(t)) + t
    body = b"VAECKPT\x00" + struct.pack("<IIQ", 4, 1, 0)
    body += struct.pack("<QqqQQdIIqq", 0x1234, 1, 2, 3, 1, 1e-3, 2, 2, 3, 16) + string(b"fuzz")
    body += struct.pack("<6f", 0.1, 0.2, 0.3, 0, 0, 0)
    body += struct.pack("<I", 2) + string(b"total") + string(b"kl")
    body += struct.pack("<I", 1) + struct.pack("<q4d", 1, 1.5, 0.5, 1.25, 0.25)
    body += struct.pack("<I", 2) + struct.pack("<2d", 3.0, 1.0)
    body += struct.pack("<I", 2) + struct.pack("<4f", 0.5, 0.5, 0.25, 0.25)
    body += struct.pack("<I", 1) + struct.pack("<f", 0.75)
    return body


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    x_u8 = npy((3, 2, 2), "|u1", bytes(range(12)))
    x_f4 = npy((2, 3), "<f4", struct.pack("<6f", 0, 0.5, 1, 0.25, 0.75, 1))
    seeds = {
        "npy_u8": b"\x00" + x_u8,
        "npy_f4": b"\x00" + x_f4,
        "npy_f8": b"\x00" + npy((2, 2), "<f8", struct.pack("<4d", 0, 1, 2, 3)),
        "npz_stored": b"\x01" + npz({"x": x_u8, "y": npy((3,), "<i8", struct.pack("<3q", 0, 1, 1)),
                                      "c": npy((3, 1), "<f4", struct.pack("<3f", 1, 2, 3))}, False),
        "npz_deflated": b"\x01" + npz({"x": x_f4, "x_test": x_f4, "y": npy((2,), "<i4", struct.pack("<2i", 1, 0)),
                                        "y_test": npy((2,), "<i4", struct.pack("<2i", 0, 1))}, True),
        "csv": b"\x02" + b"a,b,c\n0.5,1,2\n3,4,5e-1\n",
        "csv_no_header": b"\x02" + b"1,2\n3,4\n",
        "csv_label": b"\x03" + b"label,a,b\n1,0.5,0.25\n0,1,2\n",
        "idx": b"\x04" + idx((2, 2, 3), bytes(range(12))),
        "idx_gzip": b"\x04" + gzip.compress(idx((3, 2), bytes(range(6)))),
        "idx_folder": b"\x05" + SEP.join([idx((2, 2, 2), bytes(range(8))), bytes([0, 0, 8, 1]) + struct.pack(">I", 2) + b"\x01\x00",
                                           idx((1, 2, 2), bytes(4)), bytes([0, 0, 8, 1]) + struct.pack(">I", 1) + b"\x01"]),
        "png_folder": b"\x06" + SEP.join([png(3, 2, 10), png(3, 2, 200)]),
        "png_rgb": b"\x06" + png(2, 2, 7, rgb=True),
        "png_classes": b"\x07" + SEP.join([png(2, 3, 1), png(2, 3, 99), png(2, 3, 50)]),
        "checkpoint": b"\x08" + checkpoint(),
    }
    for name, data in seeds.items():
        (out / name).write_bytes(data)


main()
