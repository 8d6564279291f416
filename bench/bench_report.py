"""Tables and plots for bench/run.py results. Python 3 standard library only
(gnuplot for the plot)."""

import os
import statistics
import subprocess
import tempfile

# (key in a measurement, column title, format, higher_is_better)
METRICS = [
    ("ops_per_sec", "throughput", "{:.0f}", True),
    ("p50_us", "p50", "{:.1f}", False),
    ("p99_us", "p99", "{:.1f}", False),
    ("cpu_s_per_mreq", "server CPU/req", "{:.2f}", False),
    ("syscalls_per_req", "syscalls/req", "{:.2f}", False),
    ("ctxsw_per_req", "ctx sw/req", "{:.3f}", False),
]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio_of_rounds(rounds, num, den, key):
    """Median over rounds of num/den for one metric (pairs runs of the same
    round, so slow drift in machine speed cancels)."""
    ratios = []
    for r in rounds:
        a, b = r.get(num), r.get(den)
        if a and b and a.get(key) is not None and b.get(key):
            ratios.append(a[key] / b[key])
    return median(ratios)


def summarize(results, a, b, aa):
    """Per workload: medians per server and ratios a/b (and aa/b)."""
    out = {}
    for wl, rounds in results.items():
        servers = [s for s in (a, b, aa) if s and any(s in r for r in rounds)]
        med = {s: {k: median([r[s].get(k) for r in rounds if s in r])
                   for k in MEDIAN_KEYS} for s in servers}
        ratio = {k: ratio_of_rounds(rounds, a, b, k) for k, _, _, _ in METRICS}
        aa_ratio = ({k: ratio_of_rounds(rounds, aa, b, k) for k, _, _, _ in METRICS}
                    if aa else {})
        out[wl] = {"medians": med, "ratio": ratio, "aa_ratio": aa_ratio, "rounds": len(rounds)}
    return out


MEDIAN_KEYS = ["ops_per_sec", "p50_us", "p99_us", "p999_us", "cpu_s_per_mreq",
               "client_cpu_s_per_mreq", "server_util", "background_cores", "syscalls_per_req",
               "ctxsw_per_req", "hit_ratio"]


def fmt(v, f="{:.2f}"):
    return "n/a" if v is None else f.format(v)


def markdown(summary, memory, a, b, aa, meta):
    lines = []
    lines.append(f"Servers: A = `{meta['a_bin']}`, B = `{meta['b_bin']}`; "
                 f"server flags `{meta['server_flags']}`, server on cpu {meta['server_cpus']}, "
                 f"loadgen on cpu {meta['client_cpus']}; {meta['rounds']} round(s) of "
                 f"{meta['duration']} s per server and workload; syscalls counted with "
                 f"{meta['syscall_method']}.")
    lines.append("")
    if summary:
        head = "A/B ratio" + (" (A/A ratio)" if aa else "")
        lines.append(f"Ratios {a} / {b}, {head}; median of per-round ratios. "
                     "Throughput: higher is better; all others: lower is better.")
        lines.append("")
        lines.append("| workload | " + " | ".join(m[1] for m in METRICS) + " |")
        lines.append("|---|" + "---:|" * len(METRICS))
        for wl, s in summary.items():
            cells = []
            for key, _, _, _ in METRICS:
                c = fmt(s["ratio"].get(key))
                if aa:
                    c += f" ({fmt(s['aa_ratio'].get(key))})"
                cells.append(c)
            lines.append(f"| {wl} | " + " | ".join(cells) + " |")
        if aa:
            lines.append("")
            lines.append("A/A noise band, |1 - A/A ratio| over the workloads, median / largest: "
                         + ", ".join(f"{title} ±{fmt(noise_band(summary, key, False), '{:.0%}')}"
                                     f" / ±{fmt(noise_band(summary, key, True), '{:.0%}')}"
                                     for key, title, _, _ in METRICS))
        lines.append("")
        lines.append("Medians per server (requests: a multi-get counts as one request):")
        lines.append("")
        lines.append("| workload | server | ops/s | p50 µs | p99 µs | p99.9 µs | server CPU s/Mreq "
                     "| loadgen CPU s/Mreq | server util | other load | syscalls/req | ctx sw/req "
                     "| hit % |")
        lines.append("|---|---|" + "---:|" * 11)
        for wl, s in summary.items():
            for srv, m in s["medians"].items():
                lines.append(
                    f"| {wl} | {srv} | {fmt(m['ops_per_sec'], '{:.0f}')} | {fmt(m['p50_us'], '{:.1f}')} "
                    f"| {fmt(m['p99_us'], '{:.1f}')} | {fmt(m['p999_us'], '{:.1f}')} "
                    f"| {fmt(m['cpu_s_per_mreq'])} | {fmt(m['client_cpu_s_per_mreq'])} "
                    f"| {fmt(m['server_util'], '{:.0%}')} | {fmt(m['background_cores'])} "
                    f"| {fmt(m['syscalls_per_req'])} "
                    f"| {fmt(m['ctxsw_per_req'], '{:.3f}')} | {fmt(m['hit_ratio'], '{:.1%}')} |")
        busy = [m["background_cores"] for s in summary.values() for m in s["medians"].values()
                if m["background_cores"] is not None]
        if busy and max(busy) > 0.1:
            lines.append("")
            lines.append(f"**Warning: the machine was not idle.** Other processes used up to "
                         f"{max(busy):.2f} cores (median per workload and server) during the "
                         f"timed passes; see 'other load'. Expect a wide A/A band.")
    if memory:
        lines.append("")
        lines.append("Memory: items loaded into a fresh server, RSS growth per item, and the part "
                     "of it beyond key + value bytes (overhead).")
        lines.append("")
        lines.append("| server | phase | items | key+value B | RSS growth MiB | RSS B/item "
                     "| overhead B/item | misses on readback |")
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|")
        for srv, m in memory.items():
            for ph in m["phases"]:
                lines.append(
                    f"| {srv} | {ph['name']} | {ph['items']} | {ph['payload_per_item']} "
                    f"| {ph['rss_growth'] / 2**20:.1f} | {ph['rss_per_item']:.1f} "
                    f"| {ph['overhead_per_item']:.1f} | {ph.get('misses', '')} |")
    return "\n".join(lines) + "\n"


def noise_band(summary, key, worst):
    devs = [abs(1 - s["aa_ratio"][key]) for s in summary.values()
            if s["aa_ratio"].get(key) is not None]
    if not devs:
        return None
    return max(devs) if worst else statistics.median(devs)


def plot(points, servers, out_png):
    """points: {server: [(conns, ops_per_sec, p99_us), ...]} -> PNG via gnuplot."""
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for s in servers:
            path = os.path.join(tmp, f"{s}.dat")
            with open(path, "w") as f:
                for conns, ops, p99 in sorted(points.get(s, [])):
                    f.write(f"{conns} {ops} {p99}\n")
            files[s] = path
        script = [
            "set terminal pngcairo size 1200,450 font 'sans,10'",
            f"set output '{out_png}'",
            "set multiplot layout 1,2 title 'get90 (text, 9:1, 100 B values) vs connections'",
            "set logscale x 2", "set xlabel 'connections'", "set grid", "set key top left",
            "set ylabel 'requests/s'", "set yrange [0:*]",
            "plot " + ", ".join(f"'{files[s]}' using 1:2 with linespoints title '{s}'"
                                for s in servers),
            "set ylabel 'p99 latency (µs)'", "set logscale y",
            "set yrange [*:*]",
            "plot " + ", ".join(f"'{files[s]}' using 1:3 with linespoints title '{s}'"
                                for s in servers),
            "unset multiplot",
        ]
        subprocess.run(["gnuplot"], input="\n".join(script).encode(), check=True)
