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
  "#once"      answers normally the first time this exact prompt is seen, then 500; streamed the
               second time on, one content chunk "w0 " and then an error object (a regeneration
               whose model fails)
  "#say TEXT"  answers TEXT itself (each two-character \\n in it a newline): Markdown or HTML for
               the web chat page's tests; streamed, it comes in 4 pieces 50 ms apart
  a prompt that is a key of the JSON object in RECORD_FILE + ".answers" (if that file exists):
               answers the key's value, as "#say" does
  "#tool NAME ARGS"  answers a call of the tool NAME with the arguments ARGS (JSON text, without
               spaces), finish_reason "tool_calls"; streamed, the arguments come in 3 pieces
  "#reject"    answers 400 with OpenAI's error object for a parameter (param "tools", code
               "invalid_value")
anything else: 200, message "upstream heard: <prompt>", with usage.
The content may also be a list of parts (OpenAI's content parts): their text parts, joined by
spaces, are the prompt.

With "stream": true in the request, a 200 answer is Server-Sent Events in OpenAI's format
(a role chunk, content chunks, a finish chunk, a usage chunk, [DONE]); the content is
"upstream heard: <prompt>" cut into words, unless the prompt says:
  "#drip N MS"        N content chunks "w0 ", "w1 ", ... the first at once, then one every MS ms
  "#dripfail N MS K"  like #drip, but after K chunks an error object instead of the rest
  "#dripcut N MS K"   like #drip, but after K chunks the connection just closes (no finish, no [DONE])
  "#bigline"          after the role chunk, one event line of 1.1 MiB (more than askd reads in a line)
  "#sloppy"           chunks without id, created or object, as some compatible servers send them,
                      and the usage in the finish chunk (choices not empty)
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
seen_once = set()


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
        prompt = text_of([m for m in request.get("messages", []) if m.get("role") == "user"][-1])
        if prompt.startswith("#status "):
            status = int(prompt.split()[1])
            headers = {"Retry-After": "7"} if status == 429 else {}
            self.send_json(status, {"error": {"message": "upstream secret detail %d" % status}}, headers)
            return
        if prompt == "#reject":
            self.send_json(400, {"error": {"message": "Invalid value for 'tools': the tool is malformed.", "type": "invalid_request_error",
                                           "param": "tools", "code": "invalid_value"}})
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
        if prompt.startswith("#once"):
            with lock:
                again = prompt in seen_once
                seen_once.add(prompt)
            if again and not request.get("stream"):
                self.send_json(500, {"error": {"message": "upstream secret detail: once only"}})
                return
            if again:
                prompt = "#dripfail 3 10 1"
        words = sum(len(text_of(m).split()) for m in request["messages"])
        if request.get("stream"):
            self.stream(request, prompt, words)
            return
        answer = said(prompt) or "upstream heard: " + prompt
        message = {"role": "assistant", "content": answer}
        finish = "stop"
        if prompt.startswith("#tool "):
            _, name, arguments = prompt.split(" ", 2)
            message = {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_test1", "type": "function", "function": {"name": name, "arguments": arguments}}]}
            finish = "tool_calls"
        self.send_json(200, {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 1700000000,
            "model": request.get("model", ""),
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
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

        sloppy = prompt == "#sloppy"

        def chunk(delta=None, finish=None, usage=None, role=None, tool_calls=None):
            body = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1700000000, "model": model, "choices": []}
            if sloppy:
                del body["id"], body["object"], body["created"]
            if usage is not None and not sloppy:
                body["usage"] = usage
            else:
                d = {}
                if role:
                    d["role"] = role
                if delta is not None:
                    d["content"] = delta
                if tool_calls is not None:
                    d["tool_calls"] = tool_calls
                body["choices"] = [{"index": 0, "delta": d, "finish_reason": finish}]
                if usage is not None:
                    body["usage"] = usage
            return ("data: " + json.dumps(body) + "\n\n").encode()

        try:
            if prompt.startswith("#tool "):
                _, name, arguments = prompt.split(" ", 2)
                third = max(1, len(arguments) // 3)
                pieces = [arguments[:third], arguments[third:2 * third], arguments[2 * third:]]
                self.wfile.write(chunk(role="assistant", tool_calls=[
                    {"index": 0, "id": "call_test1", "type": "function", "function": {"name": name, "arguments": ""}}]))
                for piece in pieces:
                    self.wfile.write(chunk(tool_calls=[{"index": 0, "function": {"arguments": piece}}]))
                self.wfile.write(chunk(finish="tool_calls"))
                self.wfile.write(chunk(usage={"prompt_tokens": words, "completion_tokens": 7, "total_tokens": words + 7}))
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                return
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
            usage = {"prompt_tokens": words, "completion_tokens": len(pieces), "total_tokens": words + len(pieces)}
            if sloppy:
                self.wfile.write(chunk(finish="stop", usage=usage))
            else:
                self.wfile.write(chunk(finish="stop"))
                self.wfile.write(chunk(usage=usage))
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.record_closed(prompt)


def text_of(message):
    """A message's text: its content, or the text parts of a list of content parts."""
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text")
    return content or ""


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
