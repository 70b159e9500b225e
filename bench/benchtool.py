#!/usr/bin/env python3
"""Helpers for bench/run (standard library only).

    benchtool.py free-port
    benchtool.py wait-200 URL TIMEOUT_SECONDS
    benchtool.py startup OUT_JSON RUNS URL SOCKET ASKD_LOG ASKD_BIN [ASKD_ARGS...]
    benchtool.py sample-rss PID OUT_FILE            (runs until killed)
    benchtool.py sse-line SSE_CLIENT_JSON            (one line about a bench/sse_client.py run)
    benchtool.py report RUN_DIR MARKDOWN_OUT

bench/run is the entry point; see the comments there for what is measured and why.
"""
import glob
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse


def _exit_on_term():
    # So that `finally` blocks (which stop a child askd) run when bench/run's trap kills us.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def _poll_until_200(url, deadline, alive=None):
    """GETs url over one kept-alive connection (reopened on error) until a 200.

    Returns the monotonic time of the first 200, or None at the deadline / if alive() turns False.
    Sleeps 1 ms between attempts: fine-grained enough for a 200 ms bar, and it leaves the CPU to
    the process being timed on a 2-core machine.
    """
    parts = urllib.parse.urlsplit(url)
    conn = None
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            return None
        try:
            if conn is None:
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
            conn.request("GET", parts.path)
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                now = time.monotonic()
                conn.close()
                return now
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException):
            if conn is not None:
                conn.close()
            conn = None
        time.sleep(0.001)
    if conn is not None:
        conn.close()
    return None


def wait_200(url, timeout):
    ok = _poll_until_200(url, time.monotonic() + float(timeout))
    sys.exit(0 if ok else 1)


def startup(out_json, runs, url, sock, log_path, argv):
    """Starts askd `runs` times; each time, ms from launch to the first 200 through nginx."""
    _exit_on_term()
    results = []
    with open(log_path, "ab") as log:
        for run in range(int(runs)):
            if os.path.exists(sock):
                raise SystemExit(f"startup: {sock} still exists before run {run + 1}")
            proc = None
            try:
                t0 = time.monotonic()
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
                socket_at = None
                # The socket's appearance is noted in passing (cheap stat), for information.
                def alive():
                    nonlocal socket_at
                    if socket_at is None and os.path.exists(sock):
                        socket_at = time.monotonic()
                    return proc.poll() is None
                first = _poll_until_200(url, t0 + 10, alive)
                if first is None:
                    raise SystemExit(f"startup run {run + 1}: askd gave no 200 within 10 s (exit code {proc.poll()})")
                results.append({
                    "first_200_ms": (first - t0) * 1000,
                    "socket_ms": None if socket_at is None else (socket_at - t0) * 1000,
                })
            finally:
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
            # askd unlinks its socket on stop; make sure the next run starts from nothing.
            for _ in range(200):
                if not os.path.exists(sock):
                    break
                time.sleep(0.01)
            time.sleep(0.2)
    with open(out_json, "w") as f:
        json.dump(results, f)
    for i, r in enumerate(results, 1):
        sock = "n/a" if r["socket_ms"] is None else f"{r['socket_ms']:.1f} ms"
        print(f"  run {i}: first 200 after {r['first_200_ms']:.1f} ms (socket there after {sock})")


def read_status(pid):
    """VmRSS, VmHWM (kB) and Threads from /proc/PID/status."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                out[key] = int(value.split()[0])
    return out


def sample_rss(pid, out_file):
    _exit_on_term()
    with open(out_file, "a") as out:
        while True:
            try:
                s = read_status(pid)
            except OSError:
                return
            out.write(f"{time.time():.3f} {s['VmRSS']} {s['Threads']}\n")
            out.flush()
            time.sleep(0.1)


# ---------------------------------------------------------------- wrk output and the report

_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * _UNIT[m.group(2)]


def parse_wrk(path):
    text = open(path).read()
    r = {"file": os.path.basename(path)}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    r["rps"] = float(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    r["requests"] = int(m.group(1)) if m else 0
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M)
        r[f"p{pct}"] = _ms(m.group(1)) if m else None
    m = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", text)
    r["max"] = _ms(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    r["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups()))) if m else {}
    r["parsed"] = r["rps"] is not None and r["p99"] is not None
    return r


def scan_askd_log(path, start_offset):
    """Request lines logged during the load phase (from start_offset on): statuses, slow ones, warnings.

    Handler times and statuses are also kept per path (/healthz and /ask run in the same askd).
    """
    statuses, problems = {}, []
    count, gone, durations = 0, 0, []
    by_path = {}
    with open(path, "rb") as f:
        f.seek(start_offset)
        for raw in f:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if " request" in line and "status=" in line:
                count += 1
                st = re.search(r"status=(\d+)", line).group(1)
                statuses[st] = statuses.get(st, 0) + 1
                p = re.search(r"path=(\S+)", line)
                per = by_path.setdefault(p.group(1) if p else "?", {"lines": 0, "statuses": {}, "durations": []})
                per["lines"] += 1
                per["statuses"][st] = per["statuses"].get(st, 0) + 1
                d = re.search(r"duration_ms=([\d.]+)", line)
                if d:
                    durations.append(float(d.group(1)))
                    per["durations"].append(float(d.group(1)))
                if "client=gone" in line:
                    gone += 1
                if st != "200":
                    if len(problems) < 10:
                        problems.append(line)
            elif not re.search(r"\binfo\b", line):
                if len(problems) < 10:
                    problems.append(line)
    def pct(values, p):
        return values[min(len(values) - 1, int(p / 100 * len(values)))] if values else None
    for per in by_path.values():
        ds = sorted(per.pop("durations"))
        per.update(handler_p50_ms=pct(ds, 50), handler_p99_ms=pct(ds, 99), handler_max_ms=ds[-1] if ds else None)
    durations.sort()
    return {
        "lines": count, "statuses": statuses, "client_gone": gone, "problems": problems,
        "handler_p50_ms": pct(durations, 50), "handler_p99_ms": pct(durations, 99),
        "handler_max_ms": durations[-1] if durations else None,
        "by_path": by_path,
    }


def _fmt_ms(v):
    if v is None:
        return "n/a"
    return f"{v * 1000:.0f} µs" if v < 1 else f"{v:.2f} ms" if v < 1000 else f"{v / 1000:.2f} s"


def _kv(path):
    out = {}
    if os.path.exists(path):
        for line in open(path):
            if "=" in line:
                k, _, v = line.rstrip("\n").partition("=")
                out[k] = v
    return out


# The interleaved targets, in the order of their rounds, with their column headings.
TARGETS = {
    "nginx": "nginx `return 200` (/nginx-status)",
    "askd": "askd (/healthz)",
    "reference": "C libfcgi reference (/reference-healthz)",
    "ask": "askd POST /ask (echo, new conversation, SQLite)",
    "ask-limited": "askd POST /ask (as ask, a token with every limit set)",
    "ask-pg": "askd POST /ask (echo, new conversation, PostgreSQL)",
    "ask-pg-limited": "askd POST /ask (as ask-pg, a token with every limit set)",
    "ask-openai": "askd POST /ask (openai provider, canned upstream in nginx)",
    "proxy": "nginx proxy_pass to the canned upstream (/proxy-canned)",
}


def _c1k_section(run_dir, measures):
    """Phase 4 of bench/run: 1,000 concurrent /ask, upstream 1 s. Table lines, bars and log scan."""
    out = {"lines": [], "bars": [], "log": None}
    L = out["lines"]
    path = os.path.join(run_dir, "wrk-c1k.txt")
    if measures.get("c1k", "1") == "0":
        L.append("Concurrent /ask with a 1 s upstream: skipped (BENCH_C1K=0).")
        L.append("")
        return out
    if not os.path.exists(path):
        L.append("Concurrent /ask with a 1 s upstream: no wrk output (the phase did not run to its end).")
        L.append("")
        out["bars"].append(("1,000 concurrent /ask with a 1 s upstream ran", False, "no wrk output"))
        return out
    w = parse_wrk(path)
    text = open(path).read()
    m = re.search(r"(\d+) threads and (\d+) connections", text)
    conns = int(m.group(2)) if m else 0
    log = scan_askd_log(os.path.join(run_dir, "askd-c1k.log"), int(measures.get("c1k_log_offset_load", 0)))
    out["log"] = log
    samples = []
    rss_file = os.path.join(run_dir, "rss-c1k.txt")
    if os.path.exists(rss_file):
        samples = [int(l.split()[1]) for l in open(rss_file) if l.strip()]
    peak_kb = max(samples) if samples else 0
    hwm_kb = int(measures.get("c1k_hwm_kb", 0))
    worst_kb = max(peak_kb, hwm_kb)
    sock_errors = sum(w["socket_errors"].values())
    non200_logged = sum(v for k, v in log["statuses"].items() if k != "200")
    warm = parse_wrk(os.path.join(run_dir, "wrk-c1k-warmup.txt")) if os.path.exists(os.path.join(run_dir, "wrk-c1k-warmup.txt")) else None
    cpu = os.path.join(run_dir, "cpu-c1k.txt")
    nginx_us = app_us = None
    if os.path.exists(cpu) and w["requests"]:
        n0, a0, n1, a1 = map(int, open(cpu).read().split())
        tick_us = 1e6 / int(measures.get("clk_tck", 100))
        nginx_us, app_us = (n1 - n0) * tick_us / w["requests"], (a1 - a0) * tick_us / w["requests"]
    def mb(kb):
        return f"{kb / 1024:.1f} MB"
    L.append(f"| {conns:,} concurrent POST /ask, upstream answers after 1 s (askd --threads {measures.get('c1k_threads', '?')}) | value |")
    L.append("| --- | ---: |")
    L.append(f"| load | `wrk -t2 -c{conns} -d{measures.get('c1k_seconds', '?')}s --latency --timeout 10s`, after a {measures.get('c1k_warmup', '?')} s warm-up of the same |")
    L.append(f"| load average before / after | {measures.get('c1k_loadavg_before')} / {measures.get('c1k_loadavg_after')} |")
    L.append(f"| requests completed / req/s | {w['requests']:,} / {w['rps'] or 0:,.0f} |")
    L.append(f"| latency p50 / p75 / p90 / p99 / max | {' / '.join(_fmt_ms(w[k]) for k in ('p50', 'p75', 'p90', 'p99', 'max'))} |")
    L.append(f"| non-2xx responses | {w['non2xx']:,} |")
    L.append(f"| socket errors (connect/read/write/timeout) | {'/'.join(str(w['socket_errors'].get(k, 0)) for k in ('connect', 'read', 'write', 'timeout'))} |")
    if warm:
        L.append(f"| warm-up: requests / non-2xx / socket errors | {warm['requests']:,} / {warm['non2xx']:,} / {sum(warm['socket_errors'].values())} |")
    L.append(f"| askd threads (after start) | {measures.get('c1k_threads_actual', '?')} |")
    L.append(f"| askd RSS after start / after the warm-up | {mb(int(measures.get('c1k_rss_after_start_kb', 0)))} / {mb(int(measures.get('c1k_rss_after_warmup_kb', 0)))} |")
    L.append(f"| askd RSS under load, peak of {len(samples)} samples / VmHWM (whole life) | {mb(peak_kb)} / {mb(hwm_kb)} |")
    L.append(f"| askd RSS 2 s after the load | {mb(int(measures.get('c1k_rss_after_load_kb', 0)))} |")
    L.append(f"| CPU per request: nginx worker / askd | {'n/a' if nginx_us is None else f'{nginx_us:.0f} µs'} / {'n/a' if app_us is None else f'{app_us:.0f} µs'} |")
    L.append(f"| askd log during load: request lines / statuses | {log['lines']:,} / {', '.join(f'{k}: {v:,}' for k, v in sorted(log['statuses'].items())) or 'none'} |")
    L.append(f"| askd log during load: requests logged client=gone (wrk's last, cut off) | {log['client_gone']} |")
    L.append(f"| askd handler time p50 / p99 / max (its log; the upstream's 1 s included) | {_fmt_ms(log['handler_p50_ms'])} / {_fmt_ms(log['handler_p99_ms'])} / {_fmt_ms(log['handler_max_ms'])} |")
    L.append(f"| askd still running after the load | {measures.get('c1k_alive_after_load', '?')} |")
    L.append(f"| nginx error.log lines during the load | {measures.get('c1k_nginx_error_lines', '?')} |")
    L.append(f"| open-file limit (soft) of the run | {measures.get('c1k_nofile', '?')} |")
    L.append("")
    all_ok = w["parsed"] and w["requests"] > 0 and w["non2xx"] == 0 and sock_errors == 0 and non200_logged == 0
    out["bars"] += [
        (f"{conns:,} concurrent /ask (1 s upstream): every request succeeds", all_ok,
         f"{w['requests']:,} requests, {w['non2xx']:,} non-2xx, {sock_errors} socket errors, {non200_logged} non-200 in askd's log"),
        (f"{conns:,} concurrent /ask (1 s upstream): p99 < 1.2 s", w["p99"] is not None and w["p99"] < 1200,
         f"p99 {_fmt_ms(w['p99'])}"),
        (f"{conns:,} concurrent /ask (1 s upstream): askd RSS < 64 MB", 0 < worst_kb < 64 * 1024,
         f"peak {mb(worst_kb)}, the larger of the sampled peak and VmHWM"),
    ]
    return out


def _fmt_signed_ms(v):
    return "n/a" if v is None else _fmt_ms(v) if v >= 0 else "-" + _fmt_ms(-v)


def _sse(path):
    return json.load(open(path)) if os.path.exists(path) else None


def sse_line(path):
    r = _sse(path)
    if r is None:
        print("(no output)")
        return
    t = r["ttfb_ms"]
    print(f"{r['complete']:,} of {r['requests']:,} streams complete, {r['errors']} errors, {r['incomplete']} incomplete; "
          f"first delta p50 {_fmt_ms(t['p50'])}, p99 {_fmt_ms(t['p99'])}")


def _pct(sorted_values, p):
    """Nearest rank, as bench/sse_client.py computes its own."""
    if not sorted_values:
        return None
    return sorted_values[max(0, -(-p * len(sorted_values) // 100) - 1)]


def _stream_section(run_dir, measures):
    """Phase 5 of bench/run: streamed /ask. S1 (time to the first delta) and S2 (1,000 streams)."""
    out = {"lines": [], "bars": [], "logs": []}
    L = out["lines"]
    if measures.get("stream", "1") == "0":
        L.append("Streamed /ask (time to the first delta; 1,000 streams): skipped (BENCH_STREAM=0).")
        L.append("")
        return out
    def mb(kb):
        return f"{kb / 1024:.1f} MB"

    # S1: the rounds of each side, and their TTFB samples pooled.
    sides = {}
    for side in ("direct", "askd"):
        runs = [_sse(p) for p in sorted(glob.glob(os.path.join(run_dir, f"sse-s1-round*-{side}.json")))]
        runs = [r for r in runs if r]
        ttfb = []
        for p in glob.glob(os.path.join(run_dir, f"sse-s1-round*-{side}.ttfb")):
            ttfb += [float(l) for l in open(p) if l.strip()]
        ttfb.sort()
        sides[side] = {
            "runs": runs, "ttfb": ttfb,
            "requests": sum(r["requests"] for r in runs), "complete": sum(r["complete"] for r in runs),
            "errors": sum(r["errors"] for r in runs), "incomplete": sum(r["incomplete"] for r in runs),
            "rate": sum(r["streams_per_s"] or 0 for r in runs) / len(runs) if runs else 0.0,
            "total_p50": statistics.median(r["total_ms"]["p50"] for r in runs if r["total_ms"]["p50"] is not None)
            if any(r["total_ms"]["p50"] is not None for r in runs) else None,
        }
    d, a = sides["direct"], sides["askd"]
    if not d["runs"] or not a["runs"]:
        L.append("Streamed /ask, S1: no sse_client output (the phase did not run to its end).")
        L.append("")
        out["bars"].append(("streamed /ask, S1 (time to the first delta) ran", False, "no sse_client output"))
    else:
        conc = a["runs"][0]["concurrency"]
        L.append(f"| streamed /ask, S1: time to the first delta, c={conc}, upstream streams of {measures.get('stream_length', '?')} s in "
                 f"{measures.get('stream_chunks', '?')} chunks | upstream, direct | through nginx and askd |")
        L.append("| --- | ---: | ---: |")
        load = (f"bench/sse_client.py, kept-alive connections; {measures.get('stream_rounds', '?')} rounds of "
                f"{measures.get('stream_seconds', '?')} s, after a {measures.get('stream_warmup', '?')} s warm-up")
        L.append(f"| load (the sides' rounds interleaved) | {load} | same |")
        L.append(f"| streams complete / incomplete / errors | {d['complete']:,} / {d['incomplete']} / {d['errors']} | "
                 f"{a['complete']:,} / {a['incomplete']} / {a['errors']} |")
        L.append(f"| streams per second (mean of rounds) | {d['rate']:,.0f} | {a['rate']:,.0f} |")
        for label, p in (("p50", 50), ("p90", 90), ("p99", 99)):
            L.append(f"| first delta {label} (all rounds pooled) | {_fmt_ms(_pct(d['ttfb'], p))} | {_fmt_ms(_pct(a['ttfb'], p))} |")
        L.append(f"| first delta max | {_fmt_ms(d['ttfb'][-1] if d['ttfb'] else None)} | {_fmt_ms(a['ttfb'][-1] if a['ttfb'] else None)} |")
        L.append(f"| first delta p99 per round | {', '.join(_fmt_ms(r['ttfb_ms']['p99']) for r in d['runs'])} | "
                 f"{', '.join(_fmt_ms(r['ttfb_ms']['p99']) for r in a['runs'])} |")
        L.append(f"| whole stream p50 (median of rounds) | {_fmt_ms(d['total_p50'])} | {_fmt_ms(a['total_p50'])} |")
        log = scan_askd_log(os.path.join(run_dir, "askd-stream-s1.log"), int(measures.get("stream_s1_log_offset_load", 0)))
        out["logs"].append(("The stream askd's (S1)", log))
        L.append(f"| askd log during the rounds: request lines / statuses | - | {log['lines']:,} / "
                 f"{', '.join(f'{k}: {v:,}' for k, v in sorted(log['statuses'].items())) or 'none'} |")
        L.append(f"| askd threads / still running after the rounds | - | {measures.get('stream_s1_threads_actual', '?')} / "
                 f"{measures.get('stream_s1_alive_after_load', '?')} |")
        L.append(f"| load average before / after the rounds | {measures.get('stream_s1_loadavg_before')} / {measures.get('stream_s1_loadavg_after')} | |")
        L.append("")
        d99, a99 = _pct(d["ttfb"], 99), _pct(a["ttfb"], 99)
        diff = None if d99 is None or a99 is None else a99 - d99
        d50, a50 = _pct(d["ttfb"], 50), _pct(a["ttfb"], 50)
        L.append(f"First delta through nginx and askd minus the upstream's own: p50 {_fmt_signed_ms(None if d50 is None or a50 is None else a50 - d50)}, "
                 f"p99 {_fmt_signed_ms(diff)}. Both sides use the same Python client, whose "
                 f"own delays (one event loop reading {conc} streams) are in both figures.")
        L.append("")
        s1_errors = d["errors"] + d["incomplete"] + a["errors"] + a["incomplete"]
        out["bars"] += [
            (f"streamed /ask, S1: first delta p99 (c={conc}) at most 5 ms above the upstream's own", diff is not None and diff <= 5,
             f"{_fmt_ms(a99)} against {_fmt_ms(d99)}: {_fmt_signed_ms(diff)}"),
            ("streamed /ask, S1: every stream completes, both sides", s1_errors == 0 and a["requests"] > 0 and d["requests"] > 0,
             f"{d['complete'] + a['complete']:,} complete, {d['incomplete'] + a['incomplete']} incomplete, {d['errors'] + a['errors']} errors"),
        ]

    # S2: 1,000 streams of 5 s at once.
    r = _sse(os.path.join(run_dir, "sse-s2.json"))
    want = int(measures.get("stream_c1k_streams", 0) or 0)
    if r is None:
        L.append("Streamed /ask, S2: no sse_client output (the phase did not run to its end).")
        L.append("")
        out["bars"].append((f"streamed /ask, S2: {want:,} concurrent streams ran", False, "no sse_client output"))
        return out
    log = scan_askd_log(os.path.join(run_dir, "askd-stream-s2.log"), int(measures.get("stream_s2_log_offset_load", 0)))
    out["logs"].append(("The stream askd's (S2)", log))
    samples = []
    rss_file = os.path.join(run_dir, "rss-stream-s2.txt")
    if os.path.exists(rss_file):
        samples = [int(l.split()[1]) for l in open(rss_file) if l.strip()]
    peak_kb = max(samples) if samples else 0
    hwm_kb = int(measures.get("stream_s2_hwm_kb", 0))
    worst_kb = max(peak_kb, hwm_kb)
    cpu = os.path.join(run_dir, "cpu-stream-s2.txt")
    nginx_us = app_us = None
    if os.path.exists(cpu) and r["complete"]:
        n0, a0, n1, a1 = map(int, open(cpu).read().split())
        tick_us = 1e6 / int(measures.get("clk_tck", 100))
        nginx_us, app_us = (n1 - n0) * tick_us / r["complete"], (a1 - a0) * tick_us / r["complete"]
    t, tot = r["ttfb_ms"], r["total_ms"]
    L.append(f"| streamed /ask, S2: {want:,} streams of {measures.get('stream_c1k_length', '?')} s at once "
             f"(askd --threads {measures.get('stream_threads', '?')}) | value |")
    L.append("| --- | ---: |")
    L.append(f"| load | bench/sse_client.py, one stream per connection, all started once every connection was open; "
             f"upstream chunks per stream {measures.get('stream_c1k_chunks', '?')} |")
    L.append(f"| load average before / after | {measures.get('stream_s2_loadavg_before')} / {measures.get('stream_s2_loadavg_after')} |")
    L.append(f"| streams started / complete / incomplete / errors (timeouts) | {r['requests']:,} / {r['complete']:,} / {r['incomplete']} / "
             f"{r['errors']} ({r['timeouts']}) |")
    L.append(f"| statuses | {', '.join(f'{k}: {v:,}' for k, v in sorted(r['statuses'].items())) or 'none'} |")
    L.append(f"| first delta p50 / p99 / max | {_fmt_ms(t['p50'])} / {_fmt_ms(t['p99'])} / {_fmt_ms(t['max'])} |")
    L.append(f"| whole stream p50 / p99 / max | {_fmt_ms(tot['p50'])} / {_fmt_ms(tot['p99'])} / {_fmt_ms(tot['max'])} |")
    L.append(f"| askd threads (after start) | {measures.get('stream_s2_threads_actual', '?')} |")
    L.append(f"| askd RSS after start / 2 s after the load | {mb(int(measures.get('stream_s2_rss_after_start_kb', 0)))} / "
             f"{mb(int(measures.get('stream_s2_rss_after_load_kb', 0)))} |")
    L.append(f"| askd RSS under load, peak of {len(samples)} samples / VmHWM (whole life) | {mb(peak_kb)} / {mb(hwm_kb)} |")
    L.append(f"| CPU per stream: nginx worker / askd | {'n/a' if nginx_us is None else f'{nginx_us:.0f} µs'} / "
             f"{'n/a' if app_us is None else f'{app_us:.0f} µs'} |")
    L.append(f"| askd log: request lines / statuses | {log['lines']:,} / {', '.join(f'{k}: {v:,}' for k, v in sorted(log['statuses'].items())) or 'none'} |")
    L.append(f"| askd still running after the load | {measures.get('stream_s2_alive_after_load', '?')} |")
    L.append(f"| nginx error.log lines during the load | {measures.get('stream_s2_nginx_error_lines', '?')} |")
    L.append(f"| open-file limit (soft) of the run | {measures.get('stream_nofile', '?')} |")
    if r["error_samples"]:
        L.append(f"| client's first errors | {'; '.join(r['error_samples'])[:400].replace('|', '/')} |")
    L.append("")
    out["bars"] += [
        (f"streamed /ask, S2: {want:,} concurrent streams of {measures.get('stream_c1k_length', '?')} s all complete",
         want > 0 and r["complete"] == want and r["errors"] == 0 and r["incomplete"] == 0,
         f"{r['complete']:,} of {r['requests']:,} complete, {r['incomplete']} incomplete, {r['errors']} errors"),
        (f"streamed /ask, S2: askd RSS < 96 MB", 0 < worst_kb < 96 * 1024,
         f"peak {mb(worst_kb)}, the larger of the sampled peak and VmHWM"),
    ]
    return out


def report(run_dir, md_out):
    facts = _kv(os.path.join(run_dir, "facts.txt"))
    measures = _kv(os.path.join(run_dir, "measures.txt"))
    startup_runs = json.load(open(os.path.join(run_dir, "startup.json")))
    first_ms = [r["first_200_ms"] for r in startup_runs]
    startup_median = statistics.median(first_ms)

    # ask-pg is skipped with BENCH_PG=0: its column, ratio and bars go with it.
    pg_on = measures.get("pg", "1") != "0"
    active = {name: label for name, label in TARGETS.items() if pg_on or not name.startswith("ask-pg")}
    targets = {}
    for name in active:
        rounds = [parse_wrk(p) for p in sorted(glob.glob(os.path.join(run_dir, f"wrk-round*-{name}.txt")))]
        ok = [r for r in rounds if r["parsed"]]
        errors = sum(r["non2xx"] + sum(r["socket_errors"].values()) for r in rounds)
        targets[name] = {
            "rounds": rounds,
            "rps_mean": statistics.mean(r["rps"] for r in ok) if ok else 0.0,
            "p50": statistics.median(r["p50"] for r in ok) if ok else None,
            "p99": statistics.median(r["p99"] for r in ok) if ok else None,
            "max": max(r["max"] for r in ok) if ok else None,
            "requests": sum(r["requests"] for r in rounds),
            "non2xx": sum(r["non2xx"] for r in rounds),
            "socket_errors": {k: sum(r["socket_errors"].get(k, 0) for r in rounds) for k in ("connect", "read", "write", "timeout")},
            "errors": errors,
            "unparsed": len(rounds) - len(ok),
        }
        # CPU time of nginx's worker and of the app during this target's rounds, per request.
        tick_us = 1e6 / int(measures.get("clk_tck", 100))
        nginx_ticks = app_ticks = 0
        for path in glob.glob(os.path.join(run_dir, f"cpu-round*-{name}.txt")):
            n0, a0, n1, a1 = map(int, open(path).read().split())
            nginx_ticks += n1 - n0
            app_ticks += a1 - a0
        reqs = targets[name]["requests"]
        targets[name]["nginx_cpu_us"] = nginx_ticks * tick_us / reqs if reqs else None
        targets[name]["app_cpu_us"] = app_ticks * tick_us / reqs if reqs and name != "nginx" else None
    # Round i of each target ran within seconds of round i of the others: the ratio within each
    # round is less sensitive to drift in the machine than the ratio of the means.
    def ratios(num, den):
        d = targets[den]["rps_mean"]
        of_means = targets[num]["rps_mean"] / d if d else 0.0
        per_round = [a["rps"] / b["rps"] for a, b in zip(targets[num]["rounds"], targets[den]["rounds"])
                     if a["parsed"] and b["parsed"] and b["rps"]]
        return of_means, per_round
    ratio, pair_ratios = ratios("askd", "nginx")
    ratio_list = [
        ("askd / nginx", ratio, pair_ratios),
        ("reference / nginx", *ratios("reference", "nginx")),
        ("askd / reference", *ratios("askd", "reference")),
        ("ask / healthz (askd POST /ask / askd /healthz)", *ratios("ask", "askd")),
        ("ask-openai / proxy (askd /ask, openai, canned / nginx proxy_pass)", *ratios("ask-openai", "proxy")),
    ]
    ask_ratio = ratio_list[3][1]
    openai_ratio = ratio_list[4][1]
    if pg_on:
        ratio_list.append(("ask-pg / ask (askd /ask on PostgreSQL / on SQLite)", *ratios("ask-pg", "ask")))
        pg_ratio = ratio_list[5][1]
    # Issue 18: a token with every limit set against one with none, on the same askd.
    ratio_list.append(("ask-limited / ask (every limit set / none, SQLite; >= 0.9)", *ratios("ask-limited", "ask")))
    if pg_on:
        ratio_list.append(("ask-pg-limited / ask-pg (every limit set / none, PostgreSQL; >= 0.9)", *ratios("ask-pg-limited", "ask-pg")))

    samples = []
    rss_file = os.path.join(run_dir, "rss-under-load.txt")
    if os.path.exists(rss_file):
        samples = [int(l.split()[1]) for l in open(rss_file) if l.strip()]
    peak_rss_mb = max(samples) / 1024 if samples else None
    idle_start_mb = int(measures.get("rss_after_start_kb", 0)) / 1024
    idle_rss_mb = int(measures.get("rss_idle_kb", 0)) / 1024
    after_mb = int(measures.get("rss_after_load_kb", 0)) / 1024
    hwm_mb = int(measures.get("hwm_after_load_kb", 0)) / 1024
    log = scan_askd_log(os.path.join(run_dir, "askd.log"), int(measures.get("log_offset_load", 0)))
    openai_log_path = os.path.join(run_dir, "askd-openai.log")
    openai_log = scan_askd_log(openai_log_path, int(measures.get("openai_log_offset_load", 0))) \
        if os.path.exists(openai_log_path) else None
    openai_samples = []
    rss_file = os.path.join(run_dir, "rss-openai-under-load.txt")
    if os.path.exists(rss_file):
        openai_samples = [int(l.split()[1]) for l in open(rss_file) if l.strip()]
    survived = measures.get("askd_alive_after_load") == "yes"
    nginx_err_lines = int(measures.get("nginx_error_lines_load", 0))

    # The fifth askd: /ask on PostgreSQL (target ask-pg), and the cluster's CPU during its rounds.
    pg_log = None
    pg_samples = []
    pg_cpu_us = None
    if pg_on:
        pg_log_path = os.path.join(run_dir, "askd-pg.log")
        if os.path.exists(pg_log_path):
            pg_log = scan_askd_log(pg_log_path, int(measures.get("pg_log_offset_load", 0)))
        rss_file = os.path.join(run_dir, "rss-pg-under-load.txt")
        if os.path.exists(rss_file):
            pg_samples = [int(l.split()[1]) for l in open(rss_file) if l.strip()]
        pg_ticks = 0
        for path in glob.glob(os.path.join(run_dir, "pgcpu-round*.txt")):
            t0, t1 = map(int, open(path).read().split())
            pg_ticks += t1 - t0
        reqs = targets["ask-pg"]["requests"]
        pg_cpu_us = pg_ticks * 1e6 / int(measures.get("clk_tck", 100)) / reqs if reqs else None

    bars = [
        ("/healthz req/s >= 0.25 x nginx static", ratio >= 0.25, f"ratio {ratio:.3f}"),
        ("askd idle RSS <= 20 MB", idle_rss_mb <= 20, f"{idle_rss_mb:.1f} MB"),
        ("first response within 200 ms of start", startup_median <= 200, f"median {startup_median:.0f} ms"),
        ("/ask (echo, new conversation, SQLite) req/s >= 0.5 x /healthz", ask_ratio >= 0.5, f"ratio {ask_ratio:.3f}"),
        ("/ask (openai provider, canned upstream) req/s >= 0.5 x nginx proxy_pass to it", openai_ratio >= 0.5,
         f"ratio {openai_ratio:.3f}"),
    ]
    if pg_on:
        pg_rounds = ratio_list[5][2]
        bars.append(("/ask (echo, new conversation) on PostgreSQL req/s >= 0.5 x the same on SQLite", pg_ratio >= 0.5,
                     f"ratio {pg_ratio:.3f}; per round {', '.join(f'{r:.3f}' for r in pg_rounds) or 'n/a'}"))
    total_errors = sum(t["errors"] for t in targets.values())

    wrk_args = measures.get("wrk_args", "")
    L = []
    L.append(f"## askd benchmark, {facts.get('date', '')}")
    L.append("")
    L.append(f"- Machine: {facts.get('nproc')} CPUs, {facts.get('cpu')}, {facts.get('mem')} RAM; kernel {facts.get('kernel')}")
    L.append(f"- {facts.get('nginx')}; {facts.get('swift')}; {facts.get('wrk')}")
    L.append(f"- askd: `{facts.get('askd_bin')}` (built {facts.get('askd_built')}); repository at run time: {facts.get('git')}; `serve --socket` with default threads ({measures.get('askd_threads', '?')} threads)")
    L.append(f"- Reference: bench/reference-responder.c, {facts.get('cc')} -O2, libfcgi {facts.get('libfcgi')}, {measures.get('ref_threads', '?')} threads; same FastCGI settings and upstream keepalive as askd")
    L.append(f"- Load average before / after the rounds: {measures.get('loadavg_before')} / {measures.get('loadavg_after')}")
    L.append(f"- Load: `wrk {wrk_args}`, {measures.get('rounds')} interleaved rounds per target of {measures.get('seconds')} s each, after a {measures.get('warmup')} s warm-up of each")
    L.append("")
    L.append("| figure | " + " | ".join(active.values()) + " |")
    L.append("| --- |" + " ---: |" * len(active))
    ts = [targets[name] for name in active]
    def row(label, fmt):
        L.append(f"| {label} | " + " | ".join(fmt(t) for t in ts) + " |")
    row("req/s, mean of rounds", lambda t: f"{t['rps_mean']:,.0f}")
    row("req/s per round", lambda t: ", ".join("{:,.0f}".format(r["rps"]) for r in t["rounds"] if r["parsed"]))
    row("latency p50 (median of rounds)", lambda t: _fmt_ms(t["p50"]))
    row("latency p99 (median of rounds)", lambda t: _fmt_ms(t["p99"]))
    row("latency max (worst round)", lambda t: _fmt_ms(t["max"]))
    row("requests completed", lambda t: f"{t['requests']:,}")
    def us(v):
        return "n/a" if v is None else f"{v:.0f} µs"
    row("CPU per request: nginx worker / app", lambda t: f"{us(t['nginx_cpu_us'])} / {us(t['app_cpu_us'])}")
    row("non-2xx responses", lambda t: str(t["non2xx"]))
    row("socket errors (connect/read/write/timeout)",
        lambda t: "/".join(str(t["socket_errors"][k]) for k in ("connect", "read", "write", "timeout")))
    L.append("")
    L.append("| req/s ratio | of the means | per round (median) |")
    L.append("| --- | ---: | ---: |")
    for label, of_means, per_round in ratio_list:
        med = statistics.median(per_round) if per_round else 0.0
        L.append(f"| {label} | {of_means:.3f} | {', '.join(f'{r:.3f}' for r in per_round)} ({med:.3f}) |")
    L.append("")
    L.append("| askd figure | value |")
    L.append("| --- | ---: |")
    L.append(f"| first response after start (median of {len(first_ms)}) | {startup_median:.0f} ms |")
    L.append(f"| first response, each run | {', '.join(f'{v:.0f}' for v in first_ms)} ms |")
    L.append(f"| RSS just after start | {idle_start_mb:.1f} MB |")
    L.append(f"| RSS idle, after warm-up | {idle_rss_mb:.1f} MB |")
    L.append(f"| RSS idle after the /ask warm-up | {int(measures.get('rss_after_ask_warmup_kb', 0)) / 1024:.1f} MB |")
    L.append(f"| of which askd's own: Pss / private dirty, idle | {int(measures.get('pss_idle_kb', 0)) / 1024:.1f} MB / {int(measures.get('private_dirty_idle_kb', 0)) / 1024:.1f} MB |")
    L.append(f"| RSS under load, peak of {len(samples)} samples | {'n/a' if peak_rss_mb is None else f'{peak_rss_mb:.1f} MB'} |")
    L.append(f"| RSS idle after the load / VmHWM | {after_mb:.1f} MB / {hwm_mb:.1f} MB |")
    L.append(f"| askd log during load: request lines / statuses | {log['lines']:,} / {', '.join(f'{k}: {v:,}' for k, v in sorted(log['statuses'].items())) or 'none'} |")
    # nginx drops its FastCGI connection when wrk closes a client connection with a request in
    # flight (at the end of a round); askd then logs client=gone. A few per round are expected.
    L.append(f"| askd log during load: requests logged client=gone | {log['client_gone']} |")
    L.append(f"| askd handler time p50 / p99 / max (its log, all paths) | {_fmt_ms(log['handler_p50_ms'])} / {_fmt_ms(log['handler_p99_ms'])} / {_fmt_ms(log['handler_max_ms'])} |")
    for path in ("/healthz", "/ask"):
        per = log["by_path"].get(path)
        if per is None:
            L.append(f"| askd log during load, {path}: request lines | 0 |")
            continue
        L.append(f"| askd log during load, {path}: request lines / statuses | {per['lines']:,} / {', '.join(f'{k}: {v:,}' for k, v in sorted(per['statuses'].items()))} |")
        L.append(f"| askd handler time, {path}: p50 / p99 / max | {_fmt_ms(per['handler_p50_ms'])} / {_fmt_ms(per['handler_p99_ms'])} / {_fmt_ms(per['handler_max_ms'])} |")
    L.append(f"| askd still running after the load | {'yes' if survived else 'NO'} |")
    L.append(f"| nginx error.log lines during the load | {nginx_err_lines} |")
    ref_idle = int(measures.get("ref_rss_idle_kb", 0)) / 1024
    ref_after = int(measures.get("ref_rss_after_load_kb", 0)) / 1024
    L.append(f"| (reference: RSS idle / after the load; running after it) | {ref_idle:.1f} MB / {ref_after:.1f} MB; {measures.get('ref_alive_after_load', '?')} |")
    L.append("")
    # The second askd: the openai provider against the canned upstream (target ask-openai).
    def mb(key):
        return f"{int(measures[key]) / 1024:.1f} MB" if key in measures else "n/a"
    L.append("| second askd (openai provider, canned upstream; target ask-openai) | value |")
    L.append("| --- | ---: |")
    L.append(f"| RSS after start / after the warm-up / after the load | {mb('openai_rss_after_start_kb')} / {mb('openai_rss_after_warmup_kb')} / {mb('openai_rss_after_load_kb')} |")
    L.append(f"| RSS under load, peak of {len(openai_samples)} samples | {f'{max(openai_samples) / 1024:.1f} MB' if openai_samples else 'n/a'} |")
    if openai_log is not None:
        per = openai_log["by_path"].get("/ask", {"lines": 0, "statuses": {}, "handler_p50_ms": None, "handler_p99_ms": None, "handler_max_ms": None})
        L.append(f"| its log during load, /ask: request lines / statuses | {per['lines']:,} / {', '.join(f'{k}: {v:,}' for k, v in sorted(per['statuses'].items())) or 'none'} |")
        L.append(f"| its handler time, /ask (upstream call included): p50 / p99 / max | {_fmt_ms(per['handler_p50_ms'])} / {_fmt_ms(per['handler_p99_ms'])} / {_fmt_ms(per['handler_max_ms'])} |")
        L.append(f"| its log during load: requests logged client=gone | {openai_log['client_gone']} |")
    L.append(f"| still running after the load | {measures.get('openai_alive_after_load', '?')} |")
    L.append("")
    if pg_on:
        t = targets["ask-pg"]
        def per_req(v):
            return "n/a" if v is None else f"{v:.0f} µs"
        L.append("| fifth askd (echo provider, PostgreSQL store; target ask-pg) | value |")
        L.append("| --- | ---: |")
        L.append(f"| PostgreSQL | {facts.get('postgresql', '?')}, a throwaway cluster from Tests/Support/pg-cluster (fsync off, synchronous_commit off), "
                 f"over TCP on 127.0.0.1; {measures.get('pg_server_processes', '?')} server processes after the warm-up |")
        L.append(f"| askd's connections to it (ASKD_PG_MAX_CONNECTIONS) | {os.environ.get('ASKD_PG_MAX_CONNECTIONS', 'default')} |")
        L.append(f"| RSS after start / after the warm-up / after the load | {mb('pg_rss_after_start_kb')} / {mb('pg_rss_after_warmup_kb')} / {mb('pg_rss_after_load_kb')} |")
        L.append(f"| RSS under load, peak of {len(pg_samples)} samples | {f'{max(pg_samples) / 1024:.1f} MB' if pg_samples else 'n/a'} |")
        L.append(f"| CPU per request: nginx worker / askd / PostgreSQL server (all its processes) | "
                 f"{per_req(t['nginx_cpu_us'])} / {per_req(t['app_cpu_us'])} / {per_req(pg_cpu_us)} |")
        sq = targets["ask"]
        if t["app_cpu_us"] is not None and pg_cpu_us is not None:
            L.append(f"| CPU per request, askd + PostgreSQL / askd on SQLite (target ask) | "
                     f"{per_req(t['app_cpu_us'] + pg_cpu_us)} / {per_req(sq['app_cpu_us'])} |")
        if pg_log is not None:
            per = pg_log["by_path"].get("/ask", {"lines": 0, "statuses": {}, "handler_p50_ms": None, "handler_p99_ms": None, "handler_max_ms": None})
            L.append(f"| its log during load, /ask: request lines / statuses | {per['lines']:,} / {', '.join(f'{k}: {v:,}' for k, v in sorted(per['statuses'].items())) or 'none'} |")
            L.append(f"| its handler time, /ask: p50 / p99 / max | {_fmt_ms(per['handler_p50_ms'])} / {_fmt_ms(per['handler_p99_ms'])} / {_fmt_ms(per['handler_max_ms'])} |")
            L.append(f"| its log during load: requests logged client=gone | {pg_log['client_gone']} |")
        L.append(f"| still running after the load | {measures.get('pg_alive_after_load', '?')} |")
        L.append("")
    else:
        L.append("/ask on PostgreSQL (target ask-pg): skipped (BENCH_PG=0).")
        L.append("")
    c1k = _c1k_section(run_dir, measures)
    L.extend(c1k["lines"])
    streamed = _stream_section(run_dir, measures)
    L.extend(streamed["lines"])
    L.append("Bars (information, not a gate):")
    L.append("")
    for label, ok, detail in bars:
        L.append(f"- {'PASS' if ok else 'FAIL'}: {label} ({detail})")
    ask = targets["ask"]
    L.append(f"- {'PASS' if ask['non2xx'] == 0 else 'FAIL'}: /ask answered 2xx only ({ask['non2xx']:,} non-2xx of {ask['requests']:,} requests)")
    if pg_on:
        ask = targets["ask-pg"]
        L.append(f"- {'PASS' if ask['non2xx'] == 0 else 'FAIL'}: /ask on PostgreSQL answered 2xx only ({ask['non2xx']:,} non-2xx of {ask['requests']:,} requests)")
    ask = targets["ask-openai"]
    L.append(f"- {'PASS' if ask['non2xx'] == 0 else 'FAIL'}: /ask with the openai provider answered 2xx only ({ask['non2xx']:,} non-2xx of {ask['requests']:,} requests)")
    for label, ok, detail in c1k["bars"] + streamed["bars"]:
        L.append(f"- {'PASS' if ok else 'FAIL'}: {label} ({detail})")
    L.append(f"- {'PASS' if total_errors == 0 else 'FAIL'}: no non-2xx responses or socket errors ({total_errors} in all)")
    for who, scanned in (("askd", log), ("The second askd's (openai)", openai_log), ("The PostgreSQL askd's", pg_log), ("The c1k askd's", c1k["log"]),
                         *streamed["logs"]):
        if scanned and scanned["problems"]:
            L.append("")
            L.append(f"{who} log lines that are not a 200 `request` line or an info line (first 10):")
            L.append("")
            L.append("```")
            L.extend(scanned["problems"])
            L.append("```")
    unparsed = sum(t["unparsed"] for t in ts)
    if unparsed:
        L.append("")
        L.append(f"Warning: {unparsed} wrk outputs could not be parsed; see {run_dir}.")
    md = "\n".join(L) + "\n"
    with open(md_out, "w") as f:
        f.write(md)

    # The terminal version: the same content, without the Markdown table syntax.
    for line in L:
        if line.startswith("| ---"):
            continue
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            line = f"  {cells[0]:<56} " + "   ".join(cells[1:])
        print(line.replace("`", ""))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "free-port":
        free_port()
    elif cmd == "wait-200":
        wait_200(*args)
    elif cmd == "startup":
        startup(args[0], args[1], args[2], args[3], args[4], args[5:])
    elif cmd == "sample-rss":
        sample_rss(args[0], args[1])
    elif cmd == "sse-line":
        sse_line(args[0])
    elif cmd == "report":
        report(args[0], args[1])
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
