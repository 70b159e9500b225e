#!/usr/bin/env python3
"""A canned OpenAI-compatible upstream that streams its answers (Server-Sent Events).

Usage: stream_upstream.py TOTAL_SECONDS CHUNKS
Listens on 127.0.0.1 on a free port and prints the port as its first line. A POST
.../chat/completions with `"stream": true` gets `Content-Type: text/event-stream` in chunked
transfer encoding, on kept-alive HTTP/1.1 connections, as OpenAI's API sends it:
  - at once, in one write: the role chunk and the first content chunk;
  - the other CHUNKS - 1 content chunks, spread evenly so that the last goes out TOTAL_SECONDS
    after the first (times are absolute, so the stream does not drift);
  - with the last content chunk: a chunk with finish_reason "stop", a chunk with no choices and
    the usage (as for `"stream_options": {"include_usage": true}`), `data: [DONE]` and the end of
    the body.
Without `"stream": true` it answers the whole chat.completion JSON at once. asyncio, so a thousand
streams can run at once. All frames are built once, at start.
"""
import asyncio
import json
import sys

TOTAL = float(sys.argv[1])
CHUNKS = max(1, int(sys.argv[2]))
PIECES = [("Hello" if i == 0 else f" word{i}") for i in range(CHUNKS)]
BASE = {"id": "chatcmpl-stream", "object": "chat.completion.chunk", "created": 1700000000, "model": "stream-model"}
USAGE = {"prompt_tokens": 9, "completion_tokens": CHUNKS, "total_tokens": 9 + CHUNKS}


def event(obj):
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def chunk(delta, finish=None):
    return event({**BASE, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


def http_chunk(data):
    return b"%x\r\n" % len(data) + data + b"\r\n"


HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n")
FIRST = HEAD + http_chunk(chunk({"role": "assistant", "content": ""}) + chunk({"content": PIECES[0]}))
MIDDLE = [http_chunk(chunk({"content": p})) for p in PIECES[1:]]
END = http_chunk(chunk({}, "stop") + event({**BASE, "choices": [], "usage": USAGE}) + b"data: [DONE]\n\n") + b"0\r\n\r\n"
if MIDDLE:
    MIDDLE[-1] += END
else:
    FIRST += END
STEP = TOTAL / len(MIDDLE) if MIDDLE else 0.0
BODY = json.dumps({
    "id": "chatcmpl-stream", "object": "chat.completion", "created": 1700000000, "model": "stream-model",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(PIECES)}, "finish_reason": "stop"}],
    "usage": USAGE,
}).encode()
PLAIN = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY


async def serve(reader, writer):
    loop = asyncio.get_running_loop()
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length, expect = 0, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value.strip())
                elif name == b"expect" and value.strip().lower() == b"100-continue":
                    expect = True
            if expect:
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = await reader.readexactly(length) if length else b""
            try:
                streaming = json.loads(body).get("stream") is True
            except (ValueError, AttributeError):
                streaming = False
            if not streaming:
                writer.write(PLAIN)
                await writer.drain()
                continue
            start = loop.time()
            writer.write(FIRST)
            await writer.drain()
            for i, frame in enumerate(MIDDLE, 1):
                delay = start + i * STEP - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(frame)
                await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
