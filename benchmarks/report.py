#!/usr/bin/env python3
"""Summarise workers_bench results as markdown.

Usage: python3 benchmarks/report.py [build/bench/results.json]

Reads Google Benchmark JSON (ideally from a run with --benchmark_repetitions=N
--benchmark_report_aggregates_only=true) and prints, per workload, the median
ns per operation of every peer, the ratio workers/peer (< 1: `workers` is
faster than that peer) and the counters allocs_per_op, bytes_per_worker,
launch_ns and shutdown_ns.  Without aggregates, the mean of the plain
iterations is used instead of the median.
"""
import json
import statistics
import sys
from collections import OrderedDict

COUNTERS = ("allocs_per_op", "bytes_per_worker", "launch_ns", "shutdown_ns", "cold_launch_ns",
            "cold_shutdown_ns")
TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
PEER_ORDER = ("workers", "workers_metrics", "asio_try_first", "asio_naive", "asio_handler_reply", "threads", "caf")


def split_name(run_name):
    # "A1/asio_naive/iterations:1/manual_time" -> ("A1", "asio_naive")
    parts = run_name.split("/")
    return parts[0], (parts[1] if len(parts) > 1 else "?")


def load(path):
    with open(path) as f:
        data = json.load(f)
    medians, samples = {}, {}
    for b in data.get("benchmarks", []):
        run_name = b.get("run_name", b["name"])
        key = split_name(run_name)
        if b.get("error_occurred"):
            medians[key] = {"error": b.get("error_message", "error")}
            continue
        row = {"ns": b["real_time"] * TO_NS.get(b.get("time_unit", "ns"), 1.0),
               "label": b.get("label", "")}
        for c in COUNTERS:
            if c in b:
                row[c] = b[c]
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[key] = row
        else:
            samples.setdefault(key, []).append(row)
    for key, rows in samples.items():
        if key in medians:
            continue
        row = {"ns": statistics.mean(r["ns"] for r in rows), "label": rows[-1]["label"]}
        for c in COUNTERS:
            vals = [r[c] for r in rows if c in r]
            if vals:
                row[c] = statistics.mean(vals)
        medians[key] = row
    return data.get("context", {}), medians


def fmt(v, digits=1):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def peer_key(p):
    return (PEER_ORDER.index(p) if p in PEER_ORDER else len(PEER_ORDER), p)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "build/bench/results.json"
    context, results = load(path)
    workloads = OrderedDict()
    for (w, p) in sorted(results, key=lambda k: (k[0], peer_key(k[1]))):
        workloads.setdefault(w, []).append(p)
    peers = sorted({p for (_, p) in results}, key=peer_key)

    print(f"# workers_bench results ({path})\n")
    if context:
        print(f"{context.get('num_cpus', '?')} CPUs, {context.get('date', '')}, "
              f"library build: {context.get('library_build_type', '?')}\n")

    print("## Median ns per operation\n")
    print("| workload | " + " | ".join(peers) + " |")
    print("|---|" + "---:|" * len(peers))
    for w, ps in workloads.items():
        cells = []
        for p in peers:
            r = results.get((w, p))
            cells.append("n/a" if r is None else ("error" if "error" in r else fmt(r["ns"])))
        print(f"| {w} | " + " | ".join(cells) + " |")
    print()

    for w, ps in workloads.items():
        print(f"## {w}\n")
        ours = results.get((w, "workers"))
        show = [c for c in COUNTERS if any(c in results[(w, p)] for p in ps)]
        print("| peer | median ns/op | workers/peer | " + " | ".join(show) + " | label |")
        print("|---|---:|---:|" + "---:|" * len(show) + "---|")
        for p in ps:
            r = results[(w, p)]
            if "error" in r:
                print(f"| {p} | error: {r['error']} |" + " |" * (len(show) + 2))
                continue
            ratio = "-" if ours is None or "error" in ours else f"{ours['ns'] / r['ns']:.2f}"
            counters = " | ".join(fmt(r.get(c), 2) for c in show)
            print(f"| {p} | {fmt(r['ns'])} | {ratio} | {counters} | {r['label']} |")
        print()


if __name__ == "__main__":
    main()
