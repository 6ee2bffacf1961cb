#!/usr/bin/env python3
"""Checks a plan's shared bf16 rounding (compiler/codegen/share_rounding.h):
every bf16 product of the train program reads a and b from bf16 buffers, each
written by a reorder from an f32 buffer earlier in the program, and each
note's "train step N [m,k]x[k,n]: CHOICE" names a product at step N that
runs as the note says.
Usage: check_shared_rounding.py PLAN_TXT"""
import re
import sys


def main():
    lines = open(sys.argv[1]).read().splitlines()
    types = [l.split()[2] for l in lines if l.startswith("buffer ")]
    steps, notes, inside = [], [], False
    for l in lines:
        if l.startswith("note train step "):
            notes.append(l)
        if l.startswith("program "):
            inside = l.split()[1] == "train"
            continue
        if inside and l == "end":
            inside = False
        if inside and l.split()[0] in ("matmul", "reorder", "kernel", "conv", "zero", "gate", "optimize"):
            steps.append(l.split())
    rounded_at = {}
    products = 0
    for i, s in enumerate(steps):
        if s[0] == "reorder" and types[int(s[2])] == "bf16":
            assert types[int(s[1])] == "f32", ("reorder into bf16 from a non-f32 buffer", i, s)
            rounded_at[int(s[2])] = i
        if s[0] == "matmul" and "bf16" in s[: s.index("where")]:
            products += 1
            for x in (int(s[1]), int(s[2])):
                assert types[x] == "bf16", ("bf16 product reads an f32 buffer", i, s)
                assert x in rounded_at and rounded_at[x] < i, ("bf16 buffer not rounded before", i, s)
    for n in notes:
        m = re.match(r"note train step (\d+) \[(\d+),(\d+)\]x\[(\d+),(\d+)\]: (bf16|f32)", n)
        if not m:
            continue
        s = steps[int(m.group(1))]
        assert s[0] == "matmul", ("note names a step that is no product", n, s)
        assert ("bf16" in s[: s.index("where")]) == (m.group(6) == "bf16"), ("note and step disagree", n, s)
    print("ok: %d bf16 products, %d rounding reorders" % (products, len(rounded_at)))


main()
