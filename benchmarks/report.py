#!/usr/bin/env python3
"""Summarise workers_bench results as markdown.

Usage: python3 benchmarks/report.py [build/bench/results.json] [--svg DIR]

Reads Google Benchmark JSON (ideally from a run with --benchmark_repetitions=N
--benchmark_report_aggregates_only=true) and prints, per workload, the median
ns per operation of every peer, the ratio workers/peer (< 1: `workers` is
faster than that peer) and the counters allocs_per_op, bytes_per_worker,
launch_ns and shutdown_ns.  Without aggregates, the mean of the plain
iterations is used instead of the median.

The workloads, their order, meanings and units come from workloads.def next
to this script, the table workers_bench is compiled from.

With --svg DIR it also renders, with matplotlib (Debian: python3-matplotlib):
  DIR/scale_workers.svg  workload E: its time against the number of
                         workers (1, 1,000, 100,000), one line per peer;
  DIR/scale_threads.svg  workload F: requests per second with 1 and 2 io
                         threads, one bar per peer and thread count;
  DIR/ratios.svg         the table of workers/peer ratios of every workload.
"""
import argparse
import json
import os
import re
import statistics
import sys
import textwrap
from collections import OrderedDict

COUNTERS = ("allocs_per_op", "bytes_per_worker", "launch_ns", "shutdown_ns", "cold_launch_ns",
            "cold_shutdown_ns", "requests_per_second")
TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
PEER_ORDER = ("workers", "workers_metrics", "workers_dispatch", "asio_try_first", "asio_naive", "asio_handler_reply", "threads", "caf")
WORKLOADS_DEF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workloads.def")


def load_workloads(path=WORKLOADS_DEF):
    """{id: {"meaning", "unit"}} from the WORKLOAD(id, "meaning", "unit") rows, in their order."""
    string = r'"((?:[^"\\\n]|\\.)*)"'
    row = re.compile(r'WORKLOAD\(\s*([A-Za-z_]\w*)\s*,\s*' + string + r'\s*,\s*' + string + r'\s*\)')
    with open(path) as f:
        text = "".join(line for line in f if not line.lstrip().startswith("//"))
    table = OrderedDict()
    for m in row.finditer(text):
        if m.group(1) in table:
            sys.exit(f"{path}: workload {m.group(1)} twice")
        unescape = lambda s: re.sub(r"\\(.)", r"\1", s)
        table[m.group(1)] = {"meaning": unescape(m.group(2)), "unit": unescape(m.group(3))}
    rest = row.sub("", text).strip()
    if rest or not table:
        sys.exit(f"{path}: not a WORKLOAD(id, \"meaning\", \"unit\") row: {rest[:80]!r}")
    return table


WORKLOADS = load_workloads()


def workload_row(w):
    """("E", 1000) for "E_1000", ("A1", None) for "A1", (None, None) if not in workloads.def."""
    if w in WORKLOADS:
        return w, None
    m = re.fullmatch(r"(\w+?)_(\d+)", w)
    if m and m.group(1) in WORKLOADS:
        return m.group(1), int(m.group(2))
    return None, None


def workload_key(w):
    """The order of workloads.def, the sizes of one workload in increasing order."""
    wid, size = workload_row(w)
    if wid is None:
        return (len(WORKLOADS), 0, w)
    return (list(WORKLOADS).index(wid), -1 if size is None else size, w)


def describe(w):
    """"<meaning> (N = <size>); <unit>." from workloads.def."""
    wid, size = workload_row(w)
    if wid is None:
        return "not in benchmarks/workloads.def."
    row = WORKLOADS[wid]
    return row["meaning"] + ("" if size is None else f" (N = {size:,})") + "; " + row["unit"] + "."


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


def ratio_rows(results, workloads, peers):
    """[(workload, {peer: workers/peer})] for every workload `workers` ran."""
    rows = []
    for w, ps in workloads.items():
        ours = results.get((w, "workers"))
        if ours is None or "error" in ours:
            continue
        cells = {}
        for p in peers:
            r = results.get((w, p))
            if p != "workers" and r is not None and "error" not in r and r["ns"] > 0:
                cells[p] = ours["ns"] / r["ns"]
        rows.append((w, cells))
    return rows


def scale_points(results, wid):
    """{peer: [(n, row)]} for the sizes <wid>_<n> of workload `wid`, sorted by n."""
    points = {}
    for (w, p), r in results.items():
        rid, n = workload_row(w)
        if rid == wid and n is not None and "error" not in r:
            points.setdefault(p, []).append((n, r))
    return {p: sorted(v, key=lambda x: x[0]) for p, v in sorted(points.items(), key=lambda kv: peer_key(kv[0]))}


def render_svg(outdir, results, workloads, peers):
    try:
        import matplotlib
    except ImportError:
        sys.exit("report.py --svg needs matplotlib (Debian: apt-get install python3-matplotlib)")
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "workers"  # the same input renders the same file
    import matplotlib.pyplot as plt

    os.makedirs(outdir, exist_ok=True)
    meta = {"Date": None}

    fig, ax = plt.subplots(figsize=(6, 4))
    for p, pts in scale_points(results, "E").items():
        ax.plot([n for n, _ in pts], [r["ns"] for _, r in pts], marker="o", label=p)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("workers the requests are spread over")
    ax.set_ylabel(WORKLOADS["E"]["unit"] + " (median)")
    ax.set_title(textwrap.fill("E: " + WORKLOADS["E"]["meaning"], 60), fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "scale_workers.svg"), metadata=meta)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    f = scale_points(results, "F")
    width = 0.8 / max(1, len(f))
    for i, (p, pts) in enumerate(f.items()):
        xs = [n + (i - (len(f) - 1) / 2) * width for n, _ in pts]
        ax.bar(xs, [r.get("requests_per_second", 0) / 1e6 for _, r in pts], width, label=p)
    ax.set_xticks([1, 2])
    ax.set_xlabel("threads running the io_context (2 producer threads)")
    ax.set_ylabel("million requests per second (median)")
    ax.set_title(textwrap.fill("F: " + WORKLOADS["F"]["meaning"], 60), fontsize=9)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "scale_threads.svg"), metadata=meta)
    plt.close(fig)

    rows = ratio_rows(results, workloads, peers)
    others = [p for p in peers if p != "workers" and any(p in c for _, c in rows)]
    text = [[f"{c[p]:.2f}" if p in c else "" for p in others] for _, c in rows]
    fig, ax = plt.subplots(figsize=(1.2 + 1.3 * len(others), 0.6 + 0.3 * len(rows)))
    ax.axis("off")
    table = ax.table(cellText=text, rowLabels=[w for w, _ in rows], colLabels=others, loc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    for (r, col), cell in table.get_celld().items():
        if r >= 1 and col >= 0 and text[r - 1][col]:
            cell.set_facecolor("#d9f0d3" if float(text[r - 1][col]) <= 1.0 else "#f6d8d8")
    ax.set_title("workers / peer (median time; below 1: workers is faster)", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "ratios.svg"), metadata=meta)
    plt.close(fig)
    print(f"wrote {outdir}/scale_workers.svg, scale_threads.svg, ratios.svg")


def main():
    parser = argparse.ArgumentParser(description="Summarise workers_bench results.")
    parser.add_argument("results", nargs="?", default="build/bench/results.json")
    parser.add_argument("--svg", metavar="DIR", help="also render the pictures into DIR")
    args = parser.parse_args()
    path = args.results
    context, results = load(path)
    if not results:
        sys.exit(f"{path}: no benchmark results")
    workloads = OrderedDict()
    for (w, p) in sorted(results, key=lambda k: (workload_key(k[0]), peer_key(k[1]))):
        workloads.setdefault(w, []).append(p)
    for w in workloads:
        if workload_row(w)[0] is None:
            print(f"report.py: workload {w} is not in {WORKLOADS_DEF}", file=sys.stderr)
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
        print(describe(w) + "\n")
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

    if args.svg:
        render_svg(args.svg, results, workloads, peers)


if __name__ == "__main__":
    main()
