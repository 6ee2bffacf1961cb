#!/usr/bin/env python3
"""Checks a plan's shared bf16 rounding (compiler/codegen/share_rounding.h):
every bf16 product of the train program reads a and b from bf16 buffers, each
written earlier in the program by a reorder from an f32 buffer or by a kernel
(which stores it rounded; no other step then writes it), or the program's
input_copy (written with the input, so no step writes it), and each
note's "train step N [m,k]x[k,n]: CHOICE" names a product at step N, and
each "train step N OP [..] and [..]: CHOICE" a convolution OP at step N,
that runs as the note says, and each "train step N OP [..] and [..]: f32
winograd|own-winograd|direct (..)" a convolution OP at step N whose
`winograd` or `own-winograd` word agrees (none on a bf16 step), and each "train step N [m,k]x[k,n]: rows, as
oneDNN runs its column slices on .. and its row slices on .." a product at
step N cut as it says; a note's "a rounded for an earlier product" (b, or
"a and b rounded for earlier products") names an operand of a bf16 product
at step N that an earlier bf16 product reads; the notes are in step order;
and a bf16 convolution whose result is in a layout kernels cannot read
(neither plain nor nChw16c: an AMX kernel's channels last) is read next by
a reorder, unless it is the gradient of a parameter the plan stores in that
layout (`param_layout`), which only the optimizer reads. With the trainer's `--profile` output, each kernel step of the
train program that writes bf16 buffers says "(stores NAME...)" with their
names, and no other step says it stores any.
Usage: check_shared_rounding.py PLAN_TXT [PROFILE_TXT]"""
import re
import sys


def main():
    lines = open(sys.argv[1]).read().splitlines()
    types = [l.split()[2] for l in lines if l.startswith("buffer ")]
    grads = [int(l.split()[3]) for l in lines if l.startswith("param ")]
    stored = {grads[int(l.split()[1])]: l.split()[4] for l in lines if l.startswith("param_layout ")}
    steps, notes, inside = [], [], False
    rounded_at = {}
    for l in lines:
        if l.startswith("note train step "):
            notes.append(l)
        if l.startswith("program "):
            inside = l.split()[1] == "train"
            continue
        if inside and l.startswith("input_copy "):
            copy = int(l.split()[1])
            assert types[copy] == "bf16", ("input copy not bf16", l)
            rounded_at[copy] = -1
            continue
        if inside and l == "end":
            inside = False
        if inside and l.split()[0] in ("matmul", "reorder", "kernel", "conv", "zero", "gate", "optimize"):
            steps.append(l.split())
    inputs = len(rounded_at)
    by_kernels = 0
    first_reader = {}  # bf16 buffer -> the first bf16 product reading it
    products = 0
    for i, s in enumerate(steps):
        if s[0] == "matmul" and "bf16" in s[: s.index("where")]:
            for x in (int(s[1]), int(s[2])):
                first_reader.setdefault(x, i)
        if s[0] == "reorder" and types[int(s[2])] == "bf16":
            assert types[int(s[1])] == "f32", ("reorder into bf16 from a non-f32 buffer", i, s)
            assert rounded_at.get(int(s[2])) != -1, ("a reorder writes the input's copy", i, s)
            rounded_at[int(s[2])] = i
        if s[0] == "kernel":
            args = s[s.index("args") + 1:s.index("acc")]
            for x in (int(a) for a in args if types[int(a)] == "bf16"):
                assert rounded_at.get(x) != -1, ("a kernel writes the input's copy", i, s)
                assert x not in rounded_at, ("a kernel writes a bf16 buffer written before", i, s)
                rounded_at[x] = i
                by_kernels += 1
        if s[0] == "matmul" and "bf16" in s[: s.index("where")]:
            products += 1
            for x in (int(s[1]), int(s[2])):
                assert types[x] == "bf16", ("bf16 product reads an f32 buffer", i, s)
                assert x in rounded_at and rounded_at[x] < i, ("bf16 buffer not rounded before", i, s)
    for i, s in enumerate(steps):
        if s[0] != "conv" or "bf16" not in s[: s.index("where")]:
            continue
        layout_c = s[14]
        if layout_c == "plain" or re.fullmatch(r"blocked:[\d,]+:16@1", layout_c):
            continue
        if stored.get(int(s[4])) == layout_c:  # a gradient kept in its parameter's layout
            continue
        readers = [t for t in steps[i + 1:] if s[4] in t[1:(t.index("where") if "where" in t else len(t))]]
        r = readers[0] if readers else None
        assert r and r[0] == "reorder" and r[1] == s[4] and r[4] == layout_c, ("channels-last result read by no reorder first", i, s, r)
    at = [int(n.split()[3]) for n in notes]
    assert at == sorted(at), ("notes not in step order", at)
    convs = cuts = winograd = own = shared = 0
    for n in notes:
        a = re.match(r"note train step (\d+) (conv2d\w*) \[[\d,]+\] and \[[\d,]+\]: f32 (winograd|own-winograd|direct) \(", n)
        if a:  # assign_conv_layouts' choice of algorithm for the f32 step
            s = steps[int(a.group(1))]
            words = s[: s.index("where")]
            assert s[0] == "conv" and s[1] == a.group(2), ("note names a step that is no such convolution", n, s)
            chosen = a.group(3) == "winograd" and "bf16" not in words
            chosen_own = a.group(3) == "own-winograd" and "bf16" not in words
            assert ("winograd" in words) == chosen, ("algorithm note and step disagree", n, s)
            assert ("own-winograd" in words) == chosen_own, ("algorithm note and step disagree", n, s)
            winograd += chosen
            own += chosen_own
            continue
        cut = re.match(r"note train step (\d+) \[(\d+),(\d+)\]x\[(\d+),(\d+)\]: (rows|columns), as oneDNN runs its (row|column) slices on (\S+) and its (row|column) slices on (\S+)", n)
        if cut:  # split_products took the other cut
            s = steps[int(cut.group(1))]
            words = s[: s.index("where")]
            assert s[0] == "matmul" and cut.group(6) in words, ("cut note and step disagree", n, s)
            assert cut.group(9) + "s" == cut.group(6) and cut.group(7) != cut.group(9), ("cut note names its cuts wrong", n)
            cuts += 1
            continue
        sw = re.match(r"note train step (\d+) \[\d+,\d+\]x\[\d+,\d+\]: swapped, as oneDNN runs its call \[\d+,\d+\]x\[\d+,\d+\] on \S+ in ([\d.]+) ms and swapped on \S+ in ([\d.]+) ms", n)
        if sw:  # swap_products computes it as c^T = b^T a^T
            s = steps[int(sw.group(1))]
            words = s[: s.index("where")]
            assert s[0] == "matmul" and "swapped" in words, ("swap note and step disagree", n, s)
            # 15 % faster, up to the rounding of both times to 0.001 ms (0.0005 each)
            assert float(sw.group(3)) <= 0.85 * float(sw.group(2)) + 0.0005 * 1.85, ("swapped, but not 15 % faster", n)
            continue
        th = re.match(r"note train step (\d+) \[\d+,\d+\]x\[\d+,\d+\]: thin, own thin \((outer|dots|columns)\) ([\d.]+) ms; oneDNN \S+ ([\d.]+) ms", n)
        if th:  # thin_products runs it in vaec's own loops
            s = steps[int(th.group(1))]
            words = s[: s.index("where")]
            assert s[0] == "matmul" and "thin" in words and "whole" in words, ("thin note and step disagree", n, s)
            # 10 % faster, up to the rounding of both times to 0.001 ms (0.0005 each)
            assert float(th.group(3)) <= 0.9 * float(th.group(4)) + 0.0005 * 1.9, ("thin, but not 10 % faster", n)
            continue
        w = re.match(r"note train step (\d+) \[\d+,\d+\]x\[\d+,\d+\]: whole, ", n)
        if w:  # split_products kept a bf16 product whole
            s = steps[int(w.group(1))]
            words = s[: s.index("where")]
            assert s[0] == "matmul" and "bf16" in words and "whole" in words, ("kept-whole note and step disagree", n, s)
            continue
        m = re.match(r"note train step (\d+) \[(\d+),(\d+)\]x\[(\d+),(\d+)\]: (bf16|f32)", n)
        c = re.match(r"note train step (\d+) (conv2d\w*) \[[\d,]+\] and \[[\d,]+\]: (bf16|f32)", n)
        assert m or c, ("note names neither a product nor a convolution", n)
        s = steps[int((m or c).group(1))]
        if m:
            assert s[0] == "matmul", ("note names a step that is no product", n, s)
        else:
            assert s[0] == "conv" and s[1] == c.group(2), ("note names a step that is no such convolution", n, s)
            convs += c.group(3) == "bf16"
        assert ("bf16" in s[: s.index("where")]) == ((m or c).groups()[-1] == "bf16"), ("note and step disagree", n, s)
        both = ", a and b rounded for earlier products" in n
        for operand, x in (("a", s[1]), ("b", s[2])):
            if both or "(%s rounded for an earlier product)" % operand in n:
                assert m and first_reader.get(int(x), len(steps)) < int(m.group(1)), ("no earlier bf16 product rounded " + operand, n, s)
                shared += 1
    if len(sys.argv) > 2:
        names = [l.split()[1] for l in lines if l.startswith("buffer ")]
        profile = open(sys.argv[2]).read().split("profile of program train")[1].split("profile of program")[0]
        said = {}
        for l in profile.splitlines():
            p = re.match(r"\s+(\d+) \w+ .*\(stores ([^)]*)\)", l)
            if p:
                said[int(p.group(1))] = p.group(2).split()
        for i, s in enumerate(steps):
            want = []
            if s[0] == "kernel":
                want = [names[int(a)] for a in s[s.index("args") + 1:s.index("acc")] if types[int(a)] == "bf16"]
            assert said.get(i, []) == want, ("profile and plan disagree on what step %d stores" % i, said.get(i), want)
    print("ok: %d bf16 products, %d bf16 convolutions, %d winograd convolutions (%d vaec's own), %d rounding reorders, %d copies stored rounded by kernels, %d input copies, %d products cut the other way, %d operands rounded for earlier products" % (products, convs, winograd + own, own, len(rounded_at) - by_kernels - inputs, by_kernels, inputs, cuts, shared))


main()
