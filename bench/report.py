#!/usr/bin/env python3
"""Turns bench/run.sh's measurements into the BENCHMARKS.md section.

  report.py MACHINE RESULTS DIFF        print the markdown section
  report.py --splice BENCHMARKS.md SEC  put SEC between the run.sh markers in
                                        BENCHMARKS.md (appended at the end the first time)
"""
import re
import statistics
import sys

BEGIN = "<!-- bench/run.sh: begin (generated, do not edit by hand) -->"
END = "<!-- bench/run.sh: end -->"

SERVERS = ["etcdhosts", "hosts", "dnsmasq"]
KIND_NAMES = {
    "mix": "mixed (40% A, 15% AAAA, 10% NODATA, 20% NXDOMAIN, 15% PTR)",
    "a": "A hit",
    "aaaa": "AAAA hit",
    "nodata": "NODATA (AAAA on an A-only name)",
    "nx": "miss (unknown name)",
    "ptr": "PTR hit",
}
SIZE_NAMES = {"1000": "1k", "100000": "100k", "1000000": "1M"}


def splice(path, section_path):
    with open(path) as f:
        doc = f.read()
    with open(section_path) as f:
        sec = f.read().rstrip("\n")
    block = BEGIN + "\n" + sec + "\n" + END
    if BEGIN in doc and END in doc:
        a = doc.index(BEGIN)
        b = doc.index(END) + len(END)
        doc = doc[:a] + block + doc[b:]
    else:
        doc = doc.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(doc)


def parse_line(line):
    return {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|\S+)', line)}


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fnum(x, fmt="{:,.0f}"):
    return "—" if x is None else fmt.format(x)


def flt(d, k):
    try:
        v = float(d.get(k, "nan"))
        return None if v != v else v
    except ValueError:
        return None


def rcode_count(d, code):
    for part in d.get("rcodes", "").split(","):
        if part.startswith(code + ":"):
            return int(part.split(":")[1])
    return 0


def fbytes(x):
    if x is None:
        return "—"
    if x < 10_000:
        return f"{x:,.0f} B"
    if x < 1_000_000:
        return f"{x / 1e3:.1f} kB"
    return f"{x / 1e6:.2f} MB"


def mark(ok):
    return "**met**" if ok else "**missed**"


def main():
    if sys.argv[1] == "--splice":
        splice(sys.argv[2], sys.argv[3])
        return
    machine = dict(
        l.rstrip("\n").split("=", 1) for l in open(sys.argv[1]) if "=" in l
    )
    rows = [parse_line(l) for l in open(sys.argv[2]) if l.strip()]
    try:
        diff = open(sys.argv[3]).read().rstrip("\n")
    except OSError:
        diff = ""
    quick = machine.get("quick") == "1"
    out = []
    p = out.append
    targets = []  # (target, figure, ok)

    p("## Serving: etcdhosts vs the `hosts` plugin vs dnsmasq" + (" (quick run)" if quick else ""))
    p("")
    p("Three servers holding the same records, on the same machine, in the same run: CoreDNS")
    p("with `etcdhosts` (records in one etcd key), the same CoreDNS binary with the stock `hosts`")
    p("plugin reading the same records from a file, and dnsmasq with the same file")
    p("(`--addn-hosts`). Everything listens on 127.0.0.1; nothing forwards (no `forward` in")
    p("CoreDNS, dnsmasq with `--no-resolv` and `--local=/example.com/`), so every answer,")
    p("including misses, is made locally. Measured by `bench/run.sh`; the raw key=value lines")
    p("are in `bench/results/`.")
    p("")
    p("### Machine, date, command")
    p("")
    p("| | |")
    p("|---|---|")
    p(f"| command | `{machine.get('command')}` (took {int(machine.get('elapsed_s', '0')) // 60} min {int(machine.get('elapsed_s', '0')) % 60} s) |")
    p(f"| date | {machine.get('date')} |")
    p(f"| machine | {machine.get('cpus')} vCPUs, {machine.get('cpu')}, {machine.get('mem')}, kernel {machine.get('kernel')}; shared with other agents' builds and tests, so the load average is given next to every figure |")
    p(f"| software | {machine.get('coredns')}, dnsmasq {machine.get('dnsmasq')}, dnsperf {machine.get('dnsperf')}, etcd {machine.get('etcd')}, {machine.get('go')} |")
    p(f"| commit | {machine.get('commit')} |")
    p(f"| dnsperf | `{machine.get('dnsperf_args')}` (closed loop: 4 clients, 64 queries in flight, one dnsperf thread), `-v` for per-query latencies; {machine.get('rounds')} rounds, servers interleaved in each round (E H D E H D ...) |")
    p("")
    p("Record sets: N names `hostNNNNNNN.rackNN.dc1.example.com`, each with its own IPv4 address")
    p("in 10.0.0.0/8 (not in sorted order), every 4th also with an IPv6 address on its own line")
    p("(so N names are 1.25 N lines). Query files: 100,000 random queries per kind.")
    p("")

    notes = [r for r in rows if r.get("section") == "note"]
    for r in notes:
        if r.get("event") == "not-ready":
            p(f"**Note:** {r['server']} was still loading the {SIZE_NAMES.get(r['size'], r['size'])}-name file after {r['waited']} "
              f"(RSS {int(r.get('rss_kb') or 0) / 1024:.0f} MB, {r.get('cpu_s')} s of CPU; its load of a hosts file slows down as the "
              "file grows), so that record set was measured without it.")
            p("")

    # ---------------------------------------------------------------- throughput
    tp = [r for r in rows if r.get("section") == "throughput"]
    if tp:
        p("### 1. Throughput and latency (closed loop)")
        p("")
        p("Median over the rounds of QPS, mean and p99 latency (ms). `E/H` is etcdhosts QPS / hosts")
        p("QPS of the same round, `E/D` the same against dnsmasq. Because other jobs share the machine,")
        p("QPS moves by tens of percent from one run to the next; the server's own CPU time per")
        p("answered query (user + system, from /proc, backlog included) moves much less, so it is given")
        p("too: `CPU H/E` is hosts's CPU per query / etcdhosts's (above 1: etcdhosts does the same work")
        p("with less CPU). dnsmasq runs in the first 3 rounds only. Load = 1-minute load average.")
        p("")
        p("| records | queries | QPS etcdhosts / hosts / dnsmasq | E/H per round | E/H median | E/D median | CPU µs/query E / H / D | CPU H/E median | mean ms E / H / D | p99 ms E / H / D | load |")
        p("|---|---|---|---|---|---|---|---|---|---|---|")
        sizes = sorted({r["size"] for r in tp}, key=int)
        kinds = [k for k in KIND_NAMES if any(r["kind"] == k for r in tp)]
        summary = {}
        cpu_summary = {}

        def cpu_us(r):
            t, c = flt(r, "cpu_ticks"), flt(r, "completed")
            return t * 10000 / c if t is not None and c else None

        for size in sizes:
            for kind in kinds:
                sel = [r for r in tp if r["size"] == size and r["kind"] == kind]
                if not sel:
                    continue
                by = {s: [r for r in sel if r["server"] == s] for s in SERVERS}
                q = {s: med([flt(r, "qps") for r in by[s]]) for s in SERVERS}
                mean = {s: med([flt(r, "mean_ms") for r in by[s]]) for s in SERVERS}
                p99 = {s: med([flt(r, "p99_ms") for r in by[s]]) for s in SERVERS}
                cpu = {s: med([cpu_us(r) for r in by[s]]) for s in SERVERS}
                rounds = sorted({r["round"] for r in sel}, key=int)
                eh, ed, ceh = [], [], []
                for rd in rounds:
                    e = [r for r in by["etcdhosts"] if r["round"] == rd]
                    h = [r for r in by["hosts"] if r["round"] == rd]
                    d = [r for r in by["dnsmasq"] if r["round"] == rd]
                    if e and h and flt(h[0], "qps"):
                        eh.append(flt(e[0], "qps") / flt(h[0], "qps"))
                        if cpu_us(e[0]) and cpu_us(h[0]):
                            ceh.append(cpu_us(h[0]) / cpu_us(e[0]))
                    if e and d and flt(d[0], "qps"):
                        ed.append(flt(e[0], "qps") / flt(d[0], "qps"))
                loads = [flt(r, "load") for r in sel]
                summary[(size, kind)] = (q, med(eh), med(ed))
                cpu_summary[(size, kind)] = med(ceh)
                p(
                    f"| {SIZE_NAMES.get(size, size)} | {KIND_NAMES[kind]} | "
                    + " / ".join(fnum(q[s]) for s in SERVERS)
                    + " | "
                    + " ".join(f"{x:.2f}" for x in eh)
                    + f" | **{fnum(med(eh), '{:.2f}')}** | {fnum(med(ed), '{:.1f}')} | "
                    + " / ".join(fnum(cpu[s], "{:.1f}") for s in SERVERS)
                    + f" | **{fnum(med(ceh), '{:.2f}')}** | "
                    + " / ".join(fnum(mean[s], "{:.2f}") for s in SERVERS)
                    + " | "
                    + " / ".join(fnum(p99[s], "{:.2f}") for s in SERVERS)
                    + f" | {min(loads):.1f}–{max(loads):.1f} |"
                )
        p("")
        # targets
        ehs = [(k, v[1]) for k, v in summary.items() if v[1] is not None]
        if ehs:
            worst = min(ehs, key=lambda kv: kv[1])
            targets.append((
                "QPS etcdhosts/hosts >= 1.00 on every record set and query type",
                f"lowest median ratio {worst[1]:.2f} ({SIZE_NAMES.get(worst[0][0])}, {worst[0][1]}); "
                + ", ".join(f"{SIZE_NAMES.get(k[0])} {k[1]} {v:.2f}" for k, v in sorted(ehs, key=lambda kv: (int(kv[0][0]), kv[0][1]))),
                worst[1] >= 1.0,
            ))
        cps = [(k, v) for k, v in cpu_summary.items() if v is not None]
        if cps:
            worst = min(cps, key=lambda kv: kv[1])
            targets.append((
                "CPU per query: hosts/etcdhosts >= 1.00 on every record set and query type (the noise-resistant form of the QPS target)",
                f"lowest median ratio {worst[1]:.2f} ({SIZE_NAMES.get(worst[0][0])}, {worst[0][1]}); "
                + ", ".join(f"{SIZE_NAMES.get(k[0])} {k[1]} {v:.2f}" for k, v in sorted(cps, key=lambda kv: (int(kv[0][0]), kv[0][1]))),
                worst[1] >= 1.0,
            ))
        for size in sizes:
            if (size, "mix") in summary and summary[(size, "mix")][2] is not None:
                r = summary[(size, "mix")][2]
                targets.append((f"mixed load >= 2.5x dnsmasq ({SIZE_NAMES.get(size)})", f"{r:.1f}x", r >= 2.5))
            if (size, "ptr") in summary and summary[(size, "ptr")][2] is not None:
                r = summary[(size, "ptr")][2]
                targets.append((f"PTR >= 20x dnsmasq ({SIZE_NAMES.get(size)})", f"{r:.1f}x", r >= 20))
        for size in sizes:
            if (size, "a") in summary:
                qa = summary[(size, "a")][0]["etcdhosts"]
                for k in ("ptr", "nx"):
                    if (size, k) in summary and qa:
                        qk = summary[(size, k)][0]["etcdhosts"]
                        targets.append((f"no cliff by type: {k.upper()} within 10% of A ({SIZE_NAMES.get(size)})",
                                        f"{qk:,.0f} vs {qa:,.0f} qps ({qk / qa:.2f})", qk >= 0.9 * qa))
        small, big = ("1000", "1000000")
        for kind in kinds:
            if (small, kind) in summary and (big, kind) in summary:
                a = summary[(small, kind)][0]["etcdhosts"]
                b = summary[(big, kind)][0]["etcdhosts"]
                if a and b:
                    targets.append((f"no cliff by size: 1M >= 0.9x the QPS of 1k ({kind})", f"{b:,.0f} vs {a:,.0f} qps ({b / a:.2f})", b >= 0.9 * a))

    # ---------------------------------------------------------------- ceiling
    ce = [r for r in rows if r.get("section") == "ceiling"]
    if ce:
        if not tp:
            p("### 1. Throughput and latency (closed loop)")
            p("")
        scpu, ccpu = ce[0].get("server_cpu"), ce[0].get("client_cpu")
        p("#### The ceiling: the same CoreDNS answering without a lookup")
        p("")
        p("The stock `erratic` plugin (`erratic { drop 0 }`), in the same CoreDNS binary, answers")
        p("every A query with one fixed record: no table, no lookup; what the server itself costs.")
        p(f"Each server pinned to CPU {scpu} (`taskset`, so Go runs with GOMAXPROCS 1), dnsperf to")
        p(f"CPU {ccpu}, the same dnsperf options; A hits; in each round the servers in turn")
        p("(etcdhosts, hosts, erratic). `E/C` is etcdhosts QPS / erratic QPS of the same round, `H/C`")
        p("the same for hosts: the share of the bare server's rate each keeps while doing its lookup.")
        p("`CPU C/E` is erratic's CPU per query / etcdhosts's in the same round, the same share")
        p("measured by the server's CPU time (less moved by the other jobs on the machine).")
        p("")
        p("| records | queries | QPS etcdhosts / hosts / erratic | E/C per round | E/C median | H/C median | CPU µs/query E / H / C | CPU C/E median | mean ms E / H / C | p99 ms E / H / C | load |")
        p("|---|---|---|---|---|---|---|---|---|---|---|")
        cservers = ["etcdhosts", "hosts", "erratic"]

        def ccpu_us(r):
            t, c = flt(r, "cpu_ticks"), flt(r, "completed")
            return t * 10000 / c if t is not None and c else None

        for size in sorted({r["size"] for r in ce}, key=int):
            for kind in sorted({r["kind"] for r in ce if r["size"] == size}):
                sel = [r for r in ce if r["size"] == size and r["kind"] == kind]
                by = {s: [r for r in sel if r["server"] == s] for s in cservers}
                q = {s: med([flt(r, "qps") for r in by[s]]) for s in cservers}
                mean = {s: med([flt(r, "mean_ms") for r in by[s]]) for s in cservers}
                p99 = {s: med([flt(r, "p99_ms") for r in by[s]]) for s in cservers}
                cpu = {s: med([ccpu_us(r) for r in by[s]]) for s in cservers}
                ec, hc, cce = [], [], []
                for rd in sorted({r["round"] for r in sel}, key=int):
                    one = {s: next((r for r in by[s] if r["round"] == rd), None) for s in cservers}
                    c = one["erratic"] and flt(one["erratic"], "qps")
                    if c:
                        if one["etcdhosts"] and flt(one["etcdhosts"], "qps") is not None:
                            ec.append(flt(one["etcdhosts"], "qps") / c)
                        if one["hosts"] and flt(one["hosts"], "qps") is not None:
                            hc.append(flt(one["hosts"], "qps") / c)
                    if one["erratic"] and one["etcdhosts"] and ccpu_us(one["erratic"]) and ccpu_us(one["etcdhosts"]):
                        cce.append(ccpu_us(one["erratic"]) / ccpu_us(one["etcdhosts"]))
                loads = [flt(r, "load") for r in sel if flt(r, "load") is not None]
                p(
                    f"| {SIZE_NAMES.get(size, size)} | {KIND_NAMES.get(kind, kind)} | "
                    + " / ".join(fnum(q[s]) for s in cservers)
                    + " | " + " ".join(f"{x:.2f}" for x in ec)
                    + f" | **{fnum(med(ec), '{:.2f}')}** | {fnum(med(hc), '{:.2f}')} | "
                    + " / ".join(fnum(cpu[s], "{:.1f}") for s in cservers)
                    + f" | **{fnum(med(cce), '{:.2f}')}**"
                    + " | " + " / ".join(fnum(mean[s], "{:.2f}") for s in cservers)
                    + " | " + " / ".join(fnum(p99[s], "{:.2f}") for s in cservers)
                    + (f" | {min(loads):.1f}–{max(loads):.1f} |" if loads else " | — |")
                )
        p("")

    # ---------------------------------------------------------------- latency
    lat = [r for r in rows if r.get("section") == "latency"]
    if lat:
        p("### Latency at a fixed 20,000 qps")
        p("")
        p("Open loop (`dnsperf -Q 20000`), mixed queries, 100k records; percentiles over the")
        p("answered queries.")
        p("")
        p("| server | achieved QPS | p50 ms | p99 ms | p99.9 ms | max ms | lost | load |")
        p("|---|---|---|---|---|---|---|---|")
        for r in lat:
            p(f"| {r['server']} | {fnum(flt(r, 'qps'))} | {r.get('p50_ms')} | {r.get('p99_ms')} | {r.get('p999_ms')} | {r.get('max_ms')} | {r.get('lost')} | {r.get('load')} |")
            if r["server"] == "etcdhosts":
                p99, p999 = flt(r, "p99_ms"), flt(r, "p999_ms")
                targets.append(("latency at 20k qps: p99 <= 1 ms, p99.9 <= 3 ms", f"p99 {p99} ms, p99.9 {p999} ms", p99 is not None and p999 is not None and p99 <= 1 and p999 <= 3))
        p("")

    # ---------------------------------------------------------------- propagation
    pr = [r for r in rows if r.get("section") == "prop"]
    if pr:
        p("### 2. Propagation")
        p("")
        p("3 CoreDNS instances watching one etcd. Each put changes one line of the hosts data")
        p("(`probe.bench.example.com` gets a new address): for a single key the put carries the whole")
        p("file; for a prefix key (a Corefile `key` ending in `/`, its keys merged in key order) it")
        p("carries only the one fragment edited. The time runs from the put's acknowledgement (the")
        p("HTTP reply of etcd's JSON gateway) until *every* instance answers the new address, each")
        p("instance being polled every 0.25 ms. *etcd*: `raised` is the member started with")
        p("`--max-request-bytes` 128 MiB, `default` a second member with etcd's default limits")
        p("(a request of at most 1.5 MiB), as a stock etcd has. *etcd sent per edit*: the growth of")
        p("etcd's `etcd_network_client_grpc_sent_bytes_total` over the puts, divided by the puts")
        p("(the watch events to all 3 instances, plus the puts' and compactions' small replies),")
        p("and that divided by 3: what one instance receives per edit.")
        p("")
        p("| hosts data | etcd | put per edit | puts | p50 ms | p90 ms | p99 ms | max ms | put ack p50 ms | etcd sent per edit: 3 instances / one | timeouts | load |")
        p("|---|---|---|---|---|---|---|---|---|---|---|---|")
        limits = {"small": (10, 100), "100k": (None, 150), "1m": (None, 1500)}
        for r in pr:
            total = int(r.get("total_bytes") or r["value_bytes"])
            if r.get("key_kind") == "prefix":
                what = (f"prefix key: {int(r['names']):,} names in {r['fragments']} fragment keys "
                        f"({int(r['lines']):,} lines, {total / 1e6:.1f} MB)")
            elif r["label"] == "maxdefault":
                what = f"largest single key a default etcd takes ({int(r['lines']):,} lines, {total / 1e6:.2f} MB)"
            else:
                what = f"{r['label']} ({int(r['lines']):,} lines, {total / 1e6:.1f} MB)"
            sent, per = flt(r, "sent_bytes_per_edit"), flt(r, "sent_bytes_per_instance")
            p(f"| {what} | {r.get('etcd_limit', 'raised')} | {fbytes(int(r['value_bytes']))} | {r['puts']} | {r['p50_ms']} | {r['p90_ms']} | {r['p99_ms']} | {r['max_ms']} | {r['put_ack_p50_ms']} | "
              f"{fbytes(sent)} / {fbytes(per)} | {r['timeouts']} | {r['load']} |")
            p99l, maxl = limits.get(r["label"], (None, None))
            if p99l is not None:
                targets.append(("propagation, small change, 3 instances: p99 <= 10 ms", f"{r['p99_ms']} ms", float(r["p99_ms"]) <= p99l))
            if maxl is not None:
                targets.append((f"propagation max <= {maxl} ms ({r['label']})", f"{r['max_ms']} ms (p99 {r['p99_ms']} ms)", float(r["max_ms"]) <= maxl and r["timeouts"] == "0"))
        p("")

    # ---------------------------------------------------------------- chunked layout
    ch = {r.get("row"): r for r in rows if r.get("section") == "chunked"}
    if "edits" in ch:
        up, ed, alone = ch.get("upload", {}), ch["edits"], ch.get("dnsctl_alone", {})
        plain = next((r for r in pr if r.get("label") == "plain"), None)
        names = int(ed["names"])

        def fv(d, k):
            v = flt(d or {}, k)
            return float("nan") if v is None else v

        p("### 2b. Chunked layout: any size on a stock etcd")
        p("")
        p(f"{names:,} names ({int(up.get('lines', 0)):,} lines, {int(up.get('total_bytes', 0)) / 1e6:.1f} MB) on an etcd with")
        p("every limit at its default, written by `dnsctl`: `upload` of the file (stored chunked, as")
        p("it is over 1 MiB), then one `dnsctl add NAME IP` per edit (its blob cache warm) while 3")
        p("CoreDNS instances serve the key. Each edit is timed from dnsctl's exit until every")
        p("instance answers the new name (polled every 0.25 ms). Bytes, per edit: the instances and")
        p("dnsctl each reach etcd through their own byte-counting TCP proxy (`benchtool proxy`);")
        p("etcd's own `etcd_network_client_grpc_sent_bytes_total` and `..._received_bytes_total`, which")
        p("add up all clients, are given beside them. What etcd receives from and sends to dnsctl")
        p("alone is measured by 20 more edits with no instance running. The")
        p("database growth is `etcd_mvcc_db_total_size_in_bytes` after the edits minus before (no")
        p("compaction, no defragmentation). *Today's layout*: the same names as one plain key, which")
        p("only the etcd with the raised limit takes; each edit puts the whole file, and etcd sends")
        p("it to every instance in the watch event.")
        p("")
        received = fv(alone, "ctl_up_bytes_per_edit")
        sent_alone = fv(alone, "ctl_down_bytes_per_edit")
        per_instance = fv(ed, "inst_down_bytes_per_edit") / 3
        etcd_sent = fv(ed, "sent_bytes_per_edit")
        growth = fv(ed, "db_bytes_after") - fv(ed, "db_bytes_before")
        p("| measure | chunked layout, default etcd | one plain key, raised limit |")
        p("|---|---|---|")
        p(f"| `dnsctl upload` of {names:,} names | {float(up.get('upload_s', 'nan')):.1f} s, {fbytes(fv(up, 'upload_sent_bytes'))} sent ({up.get('keys')} blob keys; `dump` byte for byte: {up.get('dump_exact')}) | refused by a default etcd |")
        p(f"| one `dnsctl add`: bytes etcd receives | {fbytes(received)} | {fbytes(int(plain['value_bytes'])) if plain else 'the whole file'} |")
        p(f"| bytes etcd sends that `dnsctl add` (cache warm) | {fbytes(sent_alone)} | the whole file |")
        p(f"| bytes etcd sends each instance per edit | {fbytes(per_instance)} | {fbytes(fv(plain, 'sent_bytes_per_instance')) if plain else ''} |")
        p(f"| etcd's own counters per edit, 3 instances and dnsctl: sent / received | {fbytes(etcd_sent)} / {fbytes(fv(ed, 'received_bytes_per_edit'))} | {fbytes(fv(plain, 'sent_bytes_per_edit')) if plain else ''} / |")
        p(f"| visible on 3 instances: p50 / p99 / max ms ({ed['puts']} edits) | {ed['p50_ms']} / {ed['p99_ms']} / {ed['max_ms']} | "
          + (f"{plain['p50_ms']} / {plain['p99_ms']} / {plain['max_ms']} ({plain['puts']} puts, from the put's ack)" if plain else "") + " |")
        p(f"| `dnsctl add` run time p50 / p99 ms | {ed['put_ack_p50_ms']} / {ed['put_ack_p99_ms']} | |")
        p(f"| etcd DB growth over {ed['puts']} edits | {fbytes(growth)} | |")
        p(f"| rollback after etcd compacted | {'works' if ch.get('rollback_after_compaction', {}).get('works') == 'yes' else 'FAILED'} | impossible (MVCC history gone) |")
        mem = ch.get("memory")
        if mem:
            steady, peak = fv(mem, "steady_kb") * 1024, fv(mem, "hwm_kb") * 1024
            p(f"| one instance's RSS, and per record ({int(mem['records']):,} records) | {fbytes(steady)}, {steady / int(mem['records']):.0f} B | |")
            p(f"| its peak over one more edit (VmHWM reset before) / steady | {fbytes(peak)}, {peak / steady:.2f}x | |")
            targets.append(("chunked: peak / steady RSS over a one-line edit <= 1.3", f"{peak / steady:.2f}x", peak / steady <= 1.3))
        p(f"| load average | {ed['load']} | {plain['load'] if plain else ''} |")
        p("")
        targets.append(("chunked: `dnsctl upload` of 1M names <= 30 s", f"{float(up.get('upload_s', 'nan')):.1f} s", float(up.get("upload_s", "inf")) <= 30))
        targets.append(("chunked: bytes etcd receives per one-line add <= 64 KiB", fbytes(received), received <= 65536))
        targets.append(("chunked: bytes etcd sends dnsctl per add (warm) <= 64 KiB", fbytes(sent_alone), sent_alone <= 65536))
        targets.append(("chunked: bytes etcd sends each instance per add <= 64 KiB", fbytes(per_instance), per_instance <= 65536))
        targets.append(("chunked: visible on 3 instances p99 <= 50 ms", f"{ed['p99_ms']} ms", float(ed["p99_ms"]) <= 50 and ed["timeouts"] == "0"))
        targets.append((f"chunked: etcd DB growth over {ed['puts']} edits <= 20 MiB", fbytes(growth), growth <= 20 * 1048576))

    # ---------------------------------------------------------------- reload
    rl = [r for r in rows if r.get("section") == "reload"]
    if rl:
        p("### 3. Reload under load")
        p("")
        rate = rl[0].get("rate")
        p(f"`dnsperf -Q {rate}` (half the median closed-loop QPS of etcdhosts on the mixed load, 100k")
        p("records), once quiet and once while the 100k-name file is rewritten every second (one")
        p("line changed): etcdhosts through a put of the etcd key, `hosts` through an atomic rename")
        p("of its file (`reload 1s`), dnsmasq through a rename and SIGHUP. SERVFAIL counts include")
        p("the `hosts` plugin's normal SERVFAIL for unknown names (20% of the mix), so compare quiet")
        p("with storm.")
        p("")
        p("| server | run | rewrites | QPS | lost | SERVFAIL | other errors | p50 ms | p99 ms | p99.9 ms | p99 storm/quiet | load |")
        p("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for s in SERVERS:
            q = [r for r in rl if r["server"] == s and r["phase"] == "quiet"]
            st = [r for r in rl if r["server"] == s and r["phase"] == "storm"]
            for r in q + st:
                other = sum(int(x.split(":")[1]) for x in r.get("rcodes", "").split(",") if ":" in x and x.split(":")[0] not in ("NOERROR", "NXDOMAIN", "SERVFAIL"))
                ratio = ""
                if r["phase"] == "storm" and q and flt(q[0], "p99_ms"):
                    ratio = f"{flt(r, 'p99_ms') / flt(q[0], 'p99_ms'):.2f}"
                p(f"| {s} | {r['phase']} | {r.get('rewrites', '—')} | {fnum(flt(r, 'qps'))} | {r.get('lost')} | {rcode_count(r, 'SERVFAIL')} | {other} | {r.get('p50_ms')} | {r.get('p99_ms')} | {r.get('p999_ms')} | {ratio} | {r.get('load')} |")
            if s == "etcdhosts" and q and st:
                lost = int(st[0].get("lost", "0"))
                sf = rcode_count(st[0], "SERVFAIL")
                targets.append(("reload storm: zero lost queries, zero SERVFAIL", f"{lost} lost, {sf} SERVFAIL ({st[0].get('rewrites')} rewrites)", lost == 0 and sf == 0))
                ratio = flt(st[0], "p99_ms") / flt(q[0], "p99_ms")
                targets.append(("reload storm: p99 <= 2x the quiet run", f"{st[0]['p99_ms']} vs {q[0]['p99_ms']} ms ({ratio:.2f}x)", ratio <= 2))
        p("")

    # ---------------------------------------------------------------- memory
    mem = [r for r in rows if r.get("section") == "memory"]
    if mem:
        size = int(mem[0]["size"])
        # Records: the count etcdhosts reports it loaded (its log line "serving N records"),
        # never the generator's recipe. The other servers hold the same file.
        counted = [int(r["records"]) for r in mem
                   if r.get("server") == "etcdhosts" and r.get("phase") in ("idle", "after-load") and r.get("records")]
        recs = counted[-1] if counted else None
        p("### 4. Memory")
        p("")
        if recs:
            p(f"Resident memory (VmRSS) of each server holding {size:,} names ({recs:,} address records, the count")
            p("etcdhosts reported loading: its log line `serving N records`); *per record* divides the whole")
            p("process's RSS by that count (the other servers hold the same file).")
        else:
            p(f"Resident memory (VmRSS) of each server holding {size:,} names. This run's results lack the")
            p("record count the server reported loading (bench/run.sh records it now; a per-record figure")
            p("divides by that count, not by the generator's recipe), so no per-record figure is given.")
        p("The reload row: the peak RSS (VmHWM, reset just before) while the whole record set is")
        p("loaded again (one line changed), against the RSS before it.")
        p("")
        base = [r for r in mem if r.get("phase") == "baseline"]
        base_kb = int(base[0]["rss_kb"]) if base else None
        if base_kb:
            p(f"The same CoreDNS with etcdhosts on an empty key has an RSS of {base_kb / 1024:.0f} MB (of which")
            p(f"{int(base[0].get('anon_kb', 0)) / 1024:.0f} MB anonymous, the rest the binary's pages); *growth/record* subtracts it.")
            p("")
        p("*anonymous/record* counts only the anonymous pages after the runs (RssAnon: the heaps, without")
        p("the binary's mapped pages, which every process running the same binary shares).")
        p("")
        p("| server | RSS idle, after start | RSS after the query runs | bytes/record (after runs) | growth/record | anonymous/record | reload: steady → peak | peak/steady | reload took ms | load |")
        p("|---|---|---|---|---|---|---|---|---|---|")
        vals = {}
        for s in SERVERS:
            if not any(r["server"] == s for r in mem):
                p(f"| {s} | not measured (not running at this size, see the note above) | | | | | | | | |")
                vals[s] = (None, None, None, None)
                continue
            idle = [r for r in mem if r["server"] == s and r["phase"] == "idle"]
            after = [r for r in mem if r["server"] == s and r["phase"] == "after-load"]
            rel = [r for r in mem if r["server"] == s and r["phase"] == "reload"]
            i = int(idle[0]["rss_kb"]) if idle else None
            a = int(after[0]["rss_kb"]) if after else i
            anon = int(after[0]["anon_kb"]) if after and "anon_kb" in after[0] else None
            steady = int(rel[0]["steady_kb"]) if rel else None
            peak = int(rel[0]["hwm_kb"]) if rel else None
            vals[s] = (a, steady, peak, anon)
            p(f"| {s} | {fnum(i and i / 1024, '{:,.0f} MB')} | {fnum(a and a / 1024, '{:,.0f} MB')} | {fnum(a * 1024 / recs if a and recs else None, '{:.0f}')} | {fnum((a - base_kb) * 1024 / recs if a and recs and base_kb and s != 'dnsmasq' else None, '{:.0f}')} | {fnum(anon * 1024 / recs if anon and recs else None, '{:.0f}')} | "
              f"{fnum(steady and steady / 1024, '{:,.0f}')} → {fnum(peak and peak / 1024, '{:,.0f} MB')} | {fnum(peak and steady and peak / steady, '{:.2f}')} | {rel[0].get('reload_ms') if rel else '—'} | {(rel or after or idle)[0].get('load')} |")
        p("")
        a, steady, peak, _ = vals["etcdhosts"]
        if a and recs:
            fig = f"{a * 1024 / recs:.0f} B/record"
            if base_kb:
                fig += f" ({(a - base_kb) * 1024 / recs:.0f} B/record above an empty CoreDNS)"
            anon = vals["etcdhosts"][3]
            if anon:
                fig += f"; anonymous pages {anon * 1024 / recs:.0f} B/record"
            targets.append((f"memory <= 100 bytes/record at {SIZE_NAMES.get(str(size))} records (whole process RSS)", fig, a * 1024 / recs <= 100))
        if steady and peak:
            targets.append(("reload peak <= 2.2x steady state", f"{peak / steady:.2f}x", peak / steady <= 2.2))
        ha = vals["hosts"][0]
        if a and ha:
            targets.append(("memory never more than the hosts plugin's", f"{a / 1024:,.0f} MB vs {ha / 1024:,.0f} MB", a <= ha and (not peak or not vals['hosts'][2] or peak <= vals['hosts'][2])))

    # ---------------------------------------------------------------- go bench
    gb = [r for r in rows if r.get("section") == "gobench"]
    if gb:
        p("### 5. Per-query cost: ServeDNS")
        p("")
        p("`cd go-shim && go test -run '^$' -bench BenchmarkPlugins -benchmem -count 5`")
        p("(`go-shim/bench_test.go`): the same records inline in an `etcdhosts` block and in a `hosts`")
        p("block, each iteration the next of 4096 different questions, the reply packed into a reused")
        p("buffer as the server does. A miss: etcdhosts writes NXDOMAIN with an SOA; `hosts` returns")
        p("SERVFAIL without writing, and the benchmark then writes the SERVFAIL reply the way CoreDNS's")
        p("server does, so both sides pay for a reply. Median of the runs (`-count`).")
        p("")
        p("| records | query | etcdhosts ns/op | hosts ns/op | ratio | etcdhosts B/op, allocs/op | hosts B/op, allocs/op |")
        p("|---|---|---|---|---|---|---|")
        keys = []
        for r in gb:
            k = (r["size"], r["kind"])
            if k not in keys:
                keys.append(k)
        worst_ns, worst_alloc = [], []
        for size, kind in keys:
            def agg(plugin):
                sel = [r for r in gb if r["size"] == size and r["kind"] == kind and r["plugin"] == plugin]
                return (med([float(r["ns"]) for r in sel]), med([float(r["bytes"]) for r in sel]), med([float(r["allocs"]) for r in sel]))
            e, h = agg("etcdhosts"), agg("hosts")
            ratio = e[0] / h[0] if e[0] and h[0] else None
            p(f"| {size} | {kind} | {fnum(e[0])} | {fnum(h[0])} | {fnum(ratio, '{:.2f}')} | {fnum(e[1])} B, {fnum(e[2])} | {fnum(h[1])} B, {fnum(h[2])} |")
            worst_ns.append((ratio, size, kind))
            worst_alloc.append((e[2] - h[2], size, kind))
        p("")
        if worst_ns:
            w = max(worst_ns)
            targets.append(("ServeDNS ns/op no more than hosts's", f"highest ratio {w[0]:.2f} ({w[1]} {w[2]})", w[0] <= 1.0))
            a = max(worst_alloc)
            targets.append(("ServeDNS no more allocations than hosts's", f"largest difference {a[0]:+.0f} allocs/op ({a[1]} {a[2]})", a[0] <= 0))

    # ---------------------------------------------------------------- EDNS
    ed = [r for r in rows if r.get("section") == "edns"]
    edh = {r["probe"]: r for r in rows if r.get("section") == "edns-hosts"}
    if ed:
        p("### Correctness: EDNS compatibility probes")
        p("")
        p("`bench/edns.sh` (the ISC EDNS compatibility probes, with dig) against etcdhosts, and")
        p("against `hosts` for reference. Each probe asks an existing name's A record; the `soa-*`")
        p("and `nx-*` probes ask the zone apex's SOA (NODATA with the SOA in authority) and an unknown")
        p("name (NXDOMAIN with the SOA): these are etcdhosts answers `hosts` does not give.")
        p("")
        p("| probe | dig | etcdhosts | hosts |")
        p("|---|---|---|---|")
        for r in ed:
            dig = r["detail"].split(":")[0]
            hr = edh.get(r["probe"], {}).get("result", "—")
            p(f"| {r['probe']} | `{dig}` | {r['result']} | {hr} |")
        p("")
        fails = [r["probe"] for r in ed if r["result"] != "pass"]
        targets.append(("EDNS probes all pass (etcdhosts)", f"{len(ed) - len(fails)}/{len(ed)} pass" + (f"; failed: {', '.join(fails)}" if fails else ""), not fails))

    if diff:
        p("### Correctness: differential run against `hosts`")
        p("")
        p("`benchtool diff`: random queries (existing names with A, AAAA, MX, TXT, SRV, NS, SOA,")
        p("CNAME, ANY, PTR, HTTPS; unknown names; empty non-terminals and the apex; names outside the")
        p("zone; PTR of known v4/v6 and unknown addresses; 10% in random case) to etcdhosts and to")
        p("`hosts` holding the same 100k names. Rcode, answer and authority RRsets (names compared")
        p("case-insensitively) must be identical except the documented differences, which are listed.")
        p("")
        p("```")
        p(diff)
        p("```")
        p("")
        m = re.search(r"differential_undocumented=(\d+)", diff)
        if m:
            targets.append(("differential: no undocumented difference", m.group(0), m.group(1) == "0"))

    # ---------------------------------------------------------------- targets
    if targets:
        p("### Targets of this run")
        p("")
        p("| target | figure | |")
        p("|---|---|---|")
        for t, fig, ok in targets:
            p(f"| {t} | {fig} | {mark(ok)} |")
        p("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
