#!/usr/bin/env python3
"""make_bad_data.py OUTDIR: write small data files and folders into OUTDIR,
one per way data can be wrong, plus a few good ones, for the tests of the
data readers' messages (tests/lit/data_errors.test). Standard library only:
.npy headers, ZIP archives, PNG and IDX files are written by hand, so the
bytes are exactly the case named.

  npy_truncated_header.npy   cut inside the header dict
  npy_not_dict.npy           the header is a list, not a dict
  npy_no_shape.npy           the header dict lacks 'shape'
  npy_complex.npy            dtype '<c8'
  npy_big_endian.npy         dtype '>f4'
  npy_fortran.npy            fortran_order True, shape (3, 4, 5)
  npy_short_data.npy         shape (4, 3) float32, 40 of its 48 bytes
  npz_label_count.npz        x [5, 4] float32, y [3] int64
  npz_no_x.npz               members a and b, no x
  png_ragged/                a.png 4x4 grey, b.png 5x3 grey
  png_stray_file/            a.png, b.png and notes.txt
  png_empty/                 nothing (a hidden .keep only)
  png_empty_class/           cat/ with PNGs, dog/ empty
  csv_not_number.csv         'abc' at line 3, column 5
  csv_ragged.csv             line 4 has 2 fields, the header 3
  csv_no_label.csv           header a,b,c (run with --label label)
  idx_truncated              IDX [10, 4, 4] holding 3 examples
  good_idx_rgb               IDX [6, 8, 8, 3] uint8 (good)
  good_labels.npz            x [6, 2, 3] uint8, y [6] int64 (good)
  good_png_classes/          cat/ 3 and dog/ 2 RGB 4x4 images (good)
  good_rgb32.npy             [2, 32, 32, 3] uint8 (good; not [784])
"""
import os
import struct
import sys
import zipfile
import zlib


def npy_bytes(descr, shape, data, fortran=False, header=None):
    """A version 1.0 .npy: magic, header length, the dict padded with
    spaces to a multiple of 64 and ended by a newline, then `data`."""
    if header is None:
        dims = f"{shape[0]}," if len(shape) == 1 else ", ".join(str(d) for d in shape)
        header = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': ({dims}), }}"
    text = header.encode()
    pad = 64 - (10 + len(text) + 1) % 64
    text += b" " * (pad % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + data


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def write_npz(path, members):
    """np.savez's layout: NAME.npy members, stored (not deflated)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in members:
            z.writestr(name + ".npy", data)


def png_bytes(width, height, channels, seed=0):
    """An 8-bit grey (channels 1) or RGB (3) PNG, filter 0 on every row."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    color = 0 if channels == 1 else 2
    rows = b"".join(
        b"\0" + bytes((seed * 31 + y * 7 + x * 3) % 256 for x in range(width * channels)) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def idx_bytes(shape, data):
    return bytes([0, 0, 8, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + data


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_bad_data.py OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)

    def p(*parts):
        return os.path.join(out, *parts)

    # --- .npy ---
    good = npy_bytes("<f4", (4, 3), bytes(48))
    # 10 bytes of preamble, then 20 of the 118-byte header: cut mid-dict.
    write(p("npy_truncated_header.npy"), good[:30])
    write(p("npy_not_dict.npy"), npy_bytes(None, None, bytes(48), header="['<f4', False, (4, 3)]"))
    write(p("npy_no_shape.npy"), npy_bytes(None, None, bytes(48), header="{'descr': '<f4', 'fortran_order': False}"))
    write(p("npy_complex.npy"), npy_bytes("<c8", (4, 3), bytes(96)))
    write(p("npy_big_endian.npy"), npy_bytes(">f4", (4, 3), bytes(48)))
    write(p("npy_fortran.npy"), npy_bytes("<f4", (3, 4, 5), bytes(240), fortran=True))
    write(p("npy_short_data.npy"), good[:-8])
    write(p("good_rgb32.npy"), npy_bytes("|u1", (2, 32, 32, 3), bytes(range(256)) * 24))

    # --- .npz ---
    write_npz(p("npz_label_count.npz"), [
        ("x", npy_bytes("<f4", (5, 4), struct.pack("<20f", *range(20)))),
        ("y", npy_bytes("<i8", (3,), struct.pack("<3q", 0, 1, 2))),
    ])
    write_npz(p("npz_no_x.npz"), [
        ("a", npy_bytes("<f4", (2, 2), bytes(16))),
        ("b", npy_bytes("<i8", (2,), bytes(16))),
    ])
    write_npz(p("good_labels.npz"), [
        ("x", npy_bytes("|u1", (6, 2, 3), bytes(range(0, 216, 6)))),
        ("y", npy_bytes("<i8", (6,), struct.pack("<6q", 0, 1, 2, 0, 1, 0))),
    ])

    # --- PNG folders ---
    os.makedirs(p("png_ragged"), exist_ok=True)
    write(p("png_ragged", "a.png"), png_bytes(4, 4, 1))
    write(p("png_ragged", "b.png"), png_bytes(5, 3, 1))
    os.makedirs(p("png_stray_file"), exist_ok=True)
    write(p("png_stray_file", "a.png"), png_bytes(4, 4, 1))
    write(p("png_stray_file", "b.png"), png_bytes(4, 4, 1, 1))
    write(p("png_stray_file", "notes.txt"), b"where these came from\n")
    os.makedirs(p("png_empty"), exist_ok=True)
    write(p("png_empty", ".keep"), b"")  # hidden: skipped, so the folder is empty
    for cls in ("cat", "dog"):
        os.makedirs(p("png_empty_class", cls), exist_ok=True)
    write(p("png_empty_class", "cat", "1.png"), png_bytes(4, 4, 1))
    write(p("png_empty_class", "cat", "2.png"), png_bytes(4, 4, 1, 1))
    for cls, n in (("cat", 3), ("dog", 2)):
        os.makedirs(p("good_png_classes", cls), exist_ok=True)
        for i in range(n):
            write(p("good_png_classes", cls, f"{i}.png"), png_bytes(4, 4, 3, i))

    # --- CSV ---
    write(p("csv_not_number.csv"), b"a,b,c\n1,2,3\n4,5,abc\n7,8,9\n")
    write(p("csv_ragged.csv"), b"a,b,c\n1,2,3\n4,5,6\n7,8\n")
    write(p("csv_no_label.csv"), b"a,b,c\n1,2,3\n4,5,6\n")

    # --- IDX ---
    write(p("idx_truncated"), idx_bytes((10, 4, 4), bytes(3 * 16)))
    write(p("good_idx_rgb"), idx_bytes((6, 8, 8, 3), bytes(range(192)) * 6))


if __name__ == "__main__":
    main()
