#!/usr/bin/env python3
"""A local OpenAI-compatible Chat Completions server for askd's tests.

Usage: fake_openai.py RECORD_FILE
Prints the port it listens on (127.0.0.1) as its first line. Each request to
POST /v1/chat/completions is appended to RECORD_FILE as one JSON line:
{"authorization": ..., "body": {...}}.

The last user message steers the answer:
  "#status N"  answers status N with an OpenAI-style error body (429 adds Retry-After: 7)
  "#slow S"    waits S seconds, then answers normally
  "#garbage"   answers 200 with a body that is not JSON
  "#flaky"     answers 503 the first time this exact prompt is seen, then normally
anything else: 200, message "upstream heard: <prompt>", with usage.
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

record_path = sys.argv[1]
lock = threading.Lock()
seen_flaky = set()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, status, payload, headers=None):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            request = json.loads(raw)
        except ValueError:
            self.send_json(400, {"error": {"message": "bad json"}})
            return
        with lock:
            with open(record_path, "a") as record:
                record.write(json.dumps({"authorization": self.headers.get("Authorization"), "path": self.path, "body": request}) + "\n")
        if self.path != "/v1/chat/completions":
            self.send_json(404, {"error": {"message": "no such path " + self.path}})
            return
        prompt = [m for m in request.get("messages", []) if m.get("role") == "user"][-1]["content"]
        if prompt.startswith("#status "):
            status = int(prompt.split()[1])
            headers = {"Retry-After": "7"} if status == 429 else {}
            self.send_json(status, {"error": {"message": "upstream secret detail %d" % status}}, headers)
            return
        if prompt.startswith("#slow "):
            time.sleep(float(prompt.split()[1]))
        if prompt == "#garbage":
            self.send_json(200, b"this is not json")
            return
        if prompt.startswith("#flaky"):
            with lock:
                first = prompt not in seen_flaky
                seen_flaky.add(prompt)
            if first:
                self.send_json(503, {"error": {"message": "try again"}})
                return
        words = sum(len(m["content"].split()) for m in request["messages"])
        self.send_json(200, {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": request.get("model", ""),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "upstream heard: " + prompt},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": words, "completion_tokens": 3, "total_tokens": words + 3},
        })


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
