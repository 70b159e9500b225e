#!/usr/bin/env python3
"""A canned OpenAI-compatible upstream that answers every request after a fixed delay.

Usage: slow_upstream.py DELAY_SECONDS
Listens on 127.0.0.1 on a free port and prints the port as its first line. Every
POST .../chat/completions gets the same chat.completion JSON after DELAY_SECONDS,
on kept-alive HTTP/1.1 connections. asyncio, so a thousand requests can wait at once.
"""
import asyncio
import json
import sys

DELAY = float(sys.argv[1])
BODY = json.dumps({
    "id": "chatcmpl-canned", "object": "chat.completion", "created": 1700000000, "model": "canned-model",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "A canned answer from the slow upstream."},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16},
}).encode()


async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if length:
                await reader.readexactly(length)
            await asyncio.sleep(DELAY)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
