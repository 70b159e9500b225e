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
  "#say TEXT"  answers TEXT itself (each two-character \\n in it a newline): Markdown or HTML for
               the web chat page's tests; streamed, it comes in 4 pieces 50 ms apart
  a prompt that is a key of the JSON object in RECORD_FILE + ".answers" (if that file exists):
               answers the key's value, as "#say" does
anything else: 200, message "upstream heard: <prompt>", with usage.

With "stream": true in the request, a 200 answer is Server-Sent Events in OpenAI's format
(a role chunk, content chunks, a finish chunk, a usage chunk, [DONE]); the content is
"upstream heard: <prompt>" cut into words, unless the prompt says:
  "#drip N MS"        N content chunks "w0 ", "w1 ", ... the first at once, then one every MS ms
  "#dripfail N MS K"  like #drip, but after K chunks an error object instead of the rest
  "#dripcut N MS K"   like #drip, but after K chunks the connection just closes (no finish, no [DONE])
  "#bigline"          after the role chunk, one event line of 1.1 MiB (more than askd reads in a line)
If askd closes the connection during a stream, a line {"event": "closed", "prompt": ..., "at": unix
time} is appended to RECORD_FILE + ".events" as soon as the server notices (it checks before
each chunk and every 10 ms while waiting).
"""
import json
import select
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

record_path = sys.argv[1]
lock = threading.Lock()
seen_flaky = set()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, Nagle and the peer's delayed ACK
    # hold each answer about 40 ms.
    disable_nagle_algorithm = True

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
        if request.get("stream"):
            self.stream(request, prompt, words)
            return
        answer = said(prompt) or "upstream heard: " + prompt
        self.send_json(200, {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": request.get("model", ""),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": words, "completion_tokens": 3, "total_tokens": words + 3},
        })

    def peer_closed(self):
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def wait(self, seconds, prompt):
        """Sleeps, watching for askd closing the connection; False if it did."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.peer_closed():
                self.record_closed(prompt)
                return False
            time.sleep(0.01)
        return True

    def record_closed(self, prompt):
        with lock:
            with open(record_path + ".events", "a") as events:
                events.write(json.dumps({"event": "closed", "prompt": prompt, "at": time.time()}) + "\n")

    def stream(self, request, prompt, words):
        model = request.get("model", "")
        interval, fail_after, cut = 0.0, None, False
        if prompt.startswith("#drip"):
            parts = prompt.split()
            pieces = ["w%d " % i for i in range(int(parts[1]))]
            interval = int(parts[2]) / 1000.0
            if parts[0] in ("#dripfail", "#dripcut"):
                fail_after = int(parts[3])
            cut = parts[0] == "#dripcut"
        elif said(prompt) is not None:
            text = said(prompt)
            size = max(1, -(-len(text) // 4))
            pieces = [text[i:i + size] for i in range(0, len(text), size)]
            interval = 0.05
        else:
            text = "upstream heard: " + prompt
            pieces = [piece + " " for piece in text.split(" ")]
            pieces[-1] = pieces[-1][:-1]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def chunk(delta=None, finish=None, usage=None, role=None):
            body = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "model": model, "choices": []}
            if usage is not None:
                body["usage"] = usage
            else:
                d = {}
                if role:
                    d["role"] = role
                if delta is not None:
                    d["content"] = delta
                body["choices"] = [{"index": 0, "delta": d, "finish_reason": finish}]
            return ("data: " + json.dumps(body) + "\n\n").encode()

        try:
            self.wfile.write(chunk(role="assistant"))
            if prompt == "#bigline":
                self.wfile.write(b"data: " + b"x" * (1100 * 1024) + b"\n\n")
                self.wfile.flush()
                return
            for index, piece in enumerate(pieces):
                if index > 0 and not self.wait(interval, prompt):
                    return
                if fail_after is not None and index == fail_after and cut:
                    self.wfile.flush()
                    return
                if fail_after is not None and index == fail_after:
                    self.wfile.write(b'data: {"error": {"message": "upstream secret detail: broke midway"}}\n\n')
                    self.wfile.flush()
                    return
                if self.peer_closed():
                    self.record_closed(prompt)
                    return
                self.wfile.write(chunk(delta=piece))
                self.wfile.flush()
            self.wfile.write(chunk(finish="stop"))
            self.wfile.write(chunk(usage={"prompt_tokens": words, "completion_tokens": len(pieces), "total_tokens": words + len(pieces)}))
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.record_closed(prompt)


def said(prompt):
    """The answer a "#say" prompt or the answers file asks for, or None."""
    if prompt.startswith("#say "):
        return prompt[len("#say "):].replace("\\n", "\n")
    try:
        with open(record_path + ".answers") as answers:
            return json.load(answers).get(prompt)
    except (OSError, ValueError):
        return None


# socketserver's default listen backlog is 5: with more connections at once, the rest would
# wait for SYN retransmissions (a second each) and the tests would measure that.
ThreadingHTTPServer.request_queue_size = 128
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
