#!/usr/bin/env python3
"""Ratio tables of docs/PERFORMANCE.md from the --json files of docs/perf/run.sh.

Each cell divides two rows' median times of the same run (> 1: the first is faster).
Usage: docs/perf/summary.py [DIR] > DIR/summary.md   (DIR defaults to docs/perf)
"""
import json
import sys

DIR = sys.argv[1] if len(sys.argv) > 1 else "docs/perf"


def fmt(x, digits=2):
    return "–" if x is None else f"{x:.{digits}f}"


for preset in ["gpt2-small", "llama2-7b", "llama3-8b"]:
    with open(f"{DIR}/{preset}.json") as f:
        d = json.load(f)
    rows = {r["key"]: r for r in d["rows"] if r["status"] == "ok"}
    s = d["shape"]
    la = d["load_average"]
    print(f"**{preset}** (K {s['d_model']}, N {s['n']}; load average {la[0]:.1f} → {la[1]:.1f})\n")
    print("| T | thr | blas / sgemm | blas / sgemv | openmp / sgemm | openmp / sgemv "
          "| openmp / oneDNN f32 | openmp % peak | best f32 % bw | int8 / best f32 "
          "| int8 / oneDNN int8 |")
    print("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for th in (1, 2):
        for T in (1, 16, 128, 512):
            def row(b, prec="f32"):
                return rows.get(f"{b}/{prec}/T={T}/threads={th}")

            def med(b, prec="f32"):
                r = row(b, prec)
                return r["median_s"] if r else None

            def speed(a, b):  # how many times faster row a is than row b
                ta, tb = med(*a), med(*b)
                return tb / ta if ta and tb else None

            bl, om, i8 = ("blas", "f32"), ("openmp", "f32"), ("int8", "int8")
            f32 = [x for x in (bl, om) if med(*x)]
            best = min(f32, key=lambda x: med(*x)) if f32 else None
            peak = (row(*om) or {}).get("peak_pct")
            bw = (row(*best) or {}).get("bw_pct") if best and T == 1 else None
            print(f"| {T} | {th} | {fmt(speed(bl, ('cblas_sgemm', 'f32')))} "
                  f"| {fmt(speed(bl, ('cblas_sgemv', 'f32')))} "
                  f"| {fmt(speed(om, ('cblas_sgemm', 'f32')))} "
                  f"| {fmt(speed(om, ('cblas_sgemv', 'f32')))} "
                  f"| {fmt(speed(om, ('onednn_f32', 'f32')))} | {fmt(peak, 0)} | {fmt(bw, 0)} "
                  f"| {fmt(speed(i8, best) if best else None)} "
                  f"| {fmt(speed(i8, ('onednn_int8', 'int8')))} |")
    print()
