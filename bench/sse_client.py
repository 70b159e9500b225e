#!/usr/bin/env python3
"""A load client for Server-Sent Events streams over HTTP/1.1 (asyncio, standard library only).

Usage: sse_client.py URL [--mode askd|openai] [--header 'Name: value']... [--body JSON]
                     [--concurrency N] (--duration SECONDS | --count N) [--timeout SECONDS]
                     [--stagger SECONDS] [--fresh] [--samples FILE] [--out FILE]

Opens N connections first (all of them, before any request), then each connection POSTs the body
again and again (kept alive; with --fresh, a new connection per request) until the duration is
over (requests under way then run to their end) or until COUNT requests have been started in all.
With --count N --concurrency N, N streams start together, one per connection. --stagger S spreads
the connections' first requests evenly over S seconds, so that streams of a fixed length do not
all start (and end) in step.

For each request it measures the time from writing the request to reading the first `data:` line
with a piece of text: with --mode askd (askd's /ask), `data: {"delta":...}`; with --mode openai (an
OpenAI-compatible upstream), the first chunk whose choices[0].delta.content is not empty. A stream
is complete when its status is 200, its end marker came (askd: `event: done`; openai:
`data: [DONE]`) and its body ended cleanly (chunked transfer encoding, Content-Length or the close
of the connection). The measure includes this client's own delays: at high concurrency one Python
event loop reads every stream, so compare only figures taken with the same client and settings.

It prints (or writes to --out) one JSON object: requests, complete, errors (no 200 answer, or the
connection failed before one), incomplete (a 200 whose stream did not end with its marker, or was
cut, or timed out), timeouts, statuses, ttfb_ms and total_ms {count, p50, p90, p99, max, mean},
streams_per_s, and a few error samples. --samples FILE writes every TTFB (ms), one a line.
"""
import argparse
import asyncio
import json
import math
import socket
import sys
import time
import urllib.parse

now = time.perf_counter


class Stats:
    def __init__(self):
        self.requests = self.complete = self.errors = self.incomplete = self.timeouts = 0
        self.error_events = 0
        self.statuses = {}
        self.ttfb = []
        self.total = []
        self.samples = []

    def fail(self, message):
        if len(self.samples) < 5:
            self.samples.append(message)


class Conn:
    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    def close(self):
        self.writer.close()


async def connect(host, port):
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return Conn(reader, writer)


def first_text_openai(line):
    if b'"content"' not in line:
        return False
    try:
        choices = json.loads(line[5:]).get("choices") or []
        return bool(choices and (choices[0].get("delta") or {}).get("content"))
    except ValueError:
        return False


class Request:
    """One request and its stream: its status, first-text time and end marker, as they come."""

    def __init__(self, mode):
        self.mode = mode
        self.status = None
        self.ttfb = None
        self.done = False
        self.error_event = False
        self.keep = True
        self.buf = b""
        self.start = b""  # the body's first bytes, for the error samples

    def feed(self, data, t0):
        if len(self.start) < 200:
            self.start += data[:200]
        self.buf += data
        if b"\n" not in self.buf:
            return
        lines = self.buf.split(b"\n")
        self.buf = lines.pop()
        for line in lines:
            line = line.rstrip(b"\r")
            if self.ttfb is None and line.startswith(b"data:"):
                if (line.startswith(b'data: {"delta"') if self.mode == "askd" else first_text_openai(line)):
                    self.ttfb = now() - t0
            if self.mode == "askd":
                if line == b"event: done":
                    self.done = True
                elif line == b"event: error":
                    self.error_event = True
            elif line == b"data: [DONE]":
                self.done = True

    async def run(self, conn, request, t0):
        r = conn.reader
        conn.writer.write(request)
        head = await r.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head[:-4].split(b"\r\n")
        self.status = int(status_line.split(b" ", 2)[1])
        chunked, length = False, None
        for h in header_lines:
            name, _, value = h.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"transfer-encoding" and b"chunked" in value:
                chunked = True
            elif name == b"content-length":
                length = int(value)
            elif name == b"connection" and value == b"close":
                self.keep = False
        if chunked:
            while True:
                size = int((await r.readuntil(b"\r\n")).split(b";", 1)[0], 16)
                if size == 0:
                    while (await r.readuntil(b"\r\n")) != b"\r\n":  # trailers, then the blank line
                        pass
                    break
                data = await r.readexactly(size + 2)
                self.feed(data[:-2], t0)
        elif length is not None:
            self.feed(await r.readexactly(length), t0)
        else:
            self.keep = False
            while data := await r.read(65536):
                self.feed(data, t0)
        self.feed(b"\n", t0)


async def main_async(args):
    url = urllib.parse.urlsplit(args.url)
    host, port = url.hostname, url.port or 80
    path = url.path + (f"?{url.query}" if url.query else "")
    body = args.body.encode()
    head = [f"POST {path} HTTP/1.1", f"Host: {url.netloc}", "Content-Type: application/json",
            "Accept: text/event-stream", f"Content-Length: {len(body)}"] + args.header
    if args.fresh:
        head.append("Connection: close")
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    stats = Stats()
    remaining = [args.count]

    async def try_connect():
        try:
            return await connect(host, port)
        except OSError as e:
            stats.fail(f"connect: {e!r}")
            return None

    conns = await asyncio.gather(*(try_connect() for _ in range(args.concurrency)))
    start = now()
    deadline = start + args.duration if args.duration else None

    async def worker(i, conn):
        if args.stagger:
            await asyncio.sleep(i * args.stagger / args.concurrency)
        while True:
            if deadline is not None:
                if now() >= deadline:
                    break
            elif remaining[0] <= 0:
                break
            else:
                remaining[0] -= 1
            stats.requests += 1
            req = Request(args.mode)
            cut = None
            t0 = now()
            try:
                if conn is None:
                    conn = await connect(host, port)
                    t0 = now()
                await asyncio.wait_for(req.run(conn, request, t0), args.timeout)
            except asyncio.TimeoutError:
                stats.timeouts += 1
                cut = f"timed out after {args.timeout:g} s"
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError) as e:
                cut = repr(e)
            if cut is not None or not req.keep or args.fresh:
                if conn is not None:
                    conn.close()
                conn = None
            t1 = now()
            if req.status is None:
                stats.errors += 1
                stats.fail(f"no response: {cut}")
                continue
            key = str(req.status)
            stats.statuses[key] = stats.statuses.get(key, 0) + 1
            if req.status != 200:
                stats.errors += 1
                stats.fail(f"status {req.status}: {req.start[:200]!r}")
                continue
            if req.ttfb is not None:
                stats.ttfb.append(req.ttfb)
            if req.error_event:
                stats.error_events += 1
            if cut is None and req.done and not req.error_event:
                stats.complete += 1
                stats.total.append(t1 - t0)
            else:
                stats.incomplete += 1
                stats.fail(f"status 200, incomplete: {cut or ('error event' if req.error_event else 'no end marker')}"
                           f" (first text {'seen' if req.ttfb is not None else 'not seen'})")
        if conn is not None:
            conn.close()

    await asyncio.gather(*(worker(i, c) for i, c in enumerate(conns)))
    elapsed = now() - start
    return stats, elapsed


def summary(values):
    if not values:
        return {"count": 0, "p50": None, "p90": None, "p99": None, "max": None, "mean": None}
    v = sorted(x * 1000 for x in values)
    def pct(p):
        return round(v[max(0, math.ceil(p / 100 * len(v)) - 1)], 3)
    return {"count": len(v), "p50": pct(50), "p90": pct(90), "p99": pct(99), "max": round(v[-1], 3),
            "mean": round(sum(v) / len(v), 3)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url")
    p.add_argument("--mode", choices=("askd", "openai"), default="askd")
    p.add_argument("--header", action="append", default=[], help="an extra request header, 'Name: value'")
    p.add_argument("--body", default='{"prompt":"Hello there, how are you today?","stream":true}')
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--duration", type=float, default=None, help="seconds (default when --count is not given: 10)")
    p.add_argument("--count", type=int, default=None, help="requests to start in all")
    p.add_argument("--timeout", type=float, default=30.0, help="per request, whole stream (s)")
    p.add_argument("--stagger", type=float, default=0.0,
                   help="spread the connections' first requests over this many seconds (default 0: all at once)")
    p.add_argument("--fresh", action="store_true", help="a new connection per request")
    p.add_argument("--samples", help="write every TTFB (ms) to this file, one a line")
    p.add_argument("--out", help="write the JSON here instead of stdout")
    args = p.parse_args()
    if args.count is None and args.duration is None:
        args.duration = 10.0
    if args.count is not None and args.duration is not None:
        p.error("give --duration or --count, not both")
    stats, elapsed = asyncio.run(main_async(args))
    result = {
        "url": args.url, "mode": args.mode, "concurrency": args.concurrency, "duration_s": round(elapsed, 3),
        "requests": stats.requests, "complete": stats.complete, "errors": stats.errors,
        "incomplete": stats.incomplete, "timeouts": stats.timeouts, "error_events": stats.error_events,
        "statuses": stats.statuses, "streams_per_s": round(stats.complete / elapsed, 1) if elapsed else None,
        "ttfb_ms": summary(stats.ttfb), "total_ms": summary(stats.total), "error_samples": stats.samples,
    }
    if args.samples:
        with open(args.samples, "w") as f:
            f.writelines(f"{t * 1000:.3f}\n" for t in stats.ttfb)
    text = json.dumps(result, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
