#!/usr/bin/env python3
"""Drives askd's OpenAI-compatible endpoints with the official `openai` SDK (run by Tests/Support/openai-sdk).

Usage: openai_sdk_check.py MODE URL TOKEN [RECORD_FILE]

MODE "upstream": URL is a stack (nginx + askd) whose model is the fake upstream
(Tests/Support/fake_openai.py), with ASKD_MODELS "test-model,other-model"; RECORD_FILE is where the
fake records each request it got (and RECORD_FILE.events each stream askd closed).
MODE "echo": the stack's model is askd's echo provider; only the shapes are checked.
ASKD_LIMITED_TOKEN, when set, is a second token made with `--rpm 2` (and, in MODE "upstream",
`--models test-model`): the SDK must see its limits as OpenAI's own (headers, RateLimitError,
PermissionDeniedError).

Every answer and every chunk is checked strictly, field by field, as the stricter clients
(Kotlin's, Rust's, PHP's) read them, not only as the Python SDK's lenient models do. Prints one
line per check; exits 1 on the first that fails, saying what failed.
"""
import json
import os
import sys
import time
import urllib.request

import openai
from openai import OpenAI

mode, url, token = sys.argv[1:4]
record_path = sys.argv[4] if len(sys.argv) > 4 else None
base = url.rstrip("/") + "/v1"
client = OpenAI(base_url=base, api_key=token, max_retries=0, timeout=20)
model = "test-model" if mode == "upstream" else "echo"
started = time.time()
billable = 0


class CheckFailed(Exception):
    pass


def check(condition, what):
    if not condition:
        raise CheckFailed(what)


def step(text):
    print(f"sdk: {time.time() - started:5.1f} s  {text}", flush=True)


def strict_head(data, object_name, where):
    check(isinstance(data.get("id"), str) and data["id"], f"{where}: id must be a non-empty string: {data}")
    check(data.get("object") == object_name, f"{where}: object must be {object_name}: {data}")
    check(type(data.get("created")) is int and data["created"] > 0, f"{where}: created must be a positive integer: {data}")
    check(isinstance(data.get("model"), str) and data["model"], f"{where}: model must be a non-empty string: {data}")


def strict_usage(usage, where):
    check(isinstance(usage, dict), f"{where}: usage must be an object: {usage}")
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        check(type(usage.get(name)) is int and usage[name] >= 0, f"{where}: usage.{name} must be a whole number: {usage}")


def strict_tool_call(call, where, streamed):
    if streamed:
        check(type(call.get("index")) is int, f"{where}: a streamed tool call needs its index: {call}")
        if "function" in call:
            check(isinstance(call["function"], dict), f"{where}: function must be an object: {call}")
    else:
        check(isinstance(call.get("id"), str) and call.get("type") == "function", f"{where}: tool call id and type: {call}")
        function = call.get("function") or {}
        check(isinstance(function.get("name"), str) and isinstance(function.get("arguments"), str), f"{where}: function name and arguments: {call}")


def strict_completion(data):
    """A chat.completion as OpenAI's reference says it is."""
    strict_head(data, "chat.completion", "answer")
    check(isinstance(data.get("choices"), list) and data["choices"], f"answer: choices must be a non-empty list: {data}")
    for choice in data["choices"]:
        check(type(choice.get("index")) is int, f"answer: choice index: {choice}")
        check(choice.get("finish_reason") in ("stop", "length", "tool_calls", "content_filter", "function_call"), f"answer: finish_reason: {choice}")
        message = choice.get("message")
        check(isinstance(message, dict) and message.get("role") == "assistant", f"answer: message role: {choice}")
        check("content" in message and (message["content"] is None or isinstance(message["content"], str)), f"answer: content: {message}")
        for call in message.get("tool_calls") or []:
            strict_tool_call(call, "answer", streamed=False)
    strict_usage(data.get("usage"), "answer")


def raw_stream(body):
    """Every data: event of a streamed answer, read without the SDK: the chunks and whether [DONE] came."""
    request = urllib.request.Request(base + "/chat/completions", data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    chunks, done = [], False
    with urllib.request.urlopen(request, timeout=20) as response:
        check(response.headers.get("Content-Type", "").startswith("text/event-stream"), "stream: Content-Type text/event-stream")
        check(response.headers.get("x-request-id"), "stream: x-request-id")
        for line in response:
            line = line.decode().rstrip("\r\n")
            if not line.startswith("data: "):
                continue
            data = line[len("data: "):]
            if data == "[DONE]":
                done = True
                continue
            check(not done, "stream: nothing may follow [DONE]")
            chunks.append(json.loads(data))
    return chunks, done


def strict_stream(chunks, done, usage_asked):
    """Chunks as strict clients read them: all of one id, created and model; usage only if asked."""
    check(done, "stream: it must end with data: [DONE]")
    check(chunks, "stream: no chunk came")
    for chunk in chunks:
        strict_head(chunk, "chat.completion.chunk", "chunk")
        check(isinstance(chunk.get("choices"), list), f"chunk: choices must be a list: {chunk}")
        for choice in chunk["choices"]:
            check(type(choice.get("index")) is int and isinstance(choice.get("delta"), dict), f"chunk: choice index and delta: {choice}")
            check("finish_reason" in choice, f"chunk: finish_reason must be there (null until the end): {choice}")
            for call in choice["delta"].get("tool_calls") or []:
                strict_tool_call(call, "chunk", streamed=True)
    for name in ("id", "created", "model"):
        check(len({chunk[name] for chunk in chunks}) == 1, f"stream: every chunk must have the same {name}: {[c[name] for c in chunks]}")
    usage_chunks = [c for c in chunks if c.get("usage") is not None]
    if usage_asked:
        check(len(usage_chunks) == 1 and usage_chunks[0] is chunks[-1], f"stream: one usage chunk, the last: {usage_chunks}")
        check(usage_chunks[0]["choices"] == [], f"stream: the usage chunk's choices must be empty: {usage_chunks[0]}")
        strict_usage(usage_chunks[0]["usage"], "usage chunk")
    else:
        check(not usage_chunks and all("usage" not in c for c in chunks), f"stream: no usage unless asked: {usage_chunks}")
        check(all(c["choices"] for c in chunks), "stream: no chunk without choices unless the usage was asked for")
    check(any(choice.get("finish_reason") for c in chunks for choice in c["choices"]), "stream: a finish_reason must come")


def last_upstream_request():
    with open(record_path) as record:
        return json.loads(record.read().splitlines()[-1])["body"]


def usage_requests():
    request = urllib.request.Request(url.rstrip("/") + "/usage", headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["total"]["requests"]


def expect_error(kind, status, code, call):
    try:
        call()
    except kind as error:
        check(error.status_code == status, f"{kind.__name__}: status {error.status_code}, expected {status}")
        body = error.body
        check(isinstance(body, dict) and set(body) >= {"message", "type", "param", "code"}, f"{kind.__name__}: OpenAI's error object: {body}")
        check(isinstance(body["message"], str) and isinstance(body["type"], str), f"{kind.__name__}: message and type: {body}")
        check(body["code"] == code, f"{kind.__name__}: code {body['code']!r}, expected {code!r}")
        check(error.response.headers.get("x-request-id"), f"{kind.__name__}: x-request-id")
        check(error.request_id == error.response.headers.get("x-request-id"), f"{kind.__name__}: the SDK reads the request id")
        return error
    raise CheckFailed(f"expected {kind.__name__} ({status})")


def messages(text):
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]


def main():
    global billable
    usage_before = usage_requests()

    step("plain completion")
    raw = client.chat.completions.with_raw_response.create(model=model, messages=messages("hello there"))
    check(raw.headers.get("x-request-id"), "plain: x-request-id")
    completion = raw.parse()
    strict_completion(json.loads(raw.text))
    expected = "upstream heard: hello there" if mode == "upstream" else "[echo provider] You said: hello there"
    check(completion.choices[0].message.content == expected, f"plain: content {completion.choices[0].message.content!r}")
    check(completion.usage.total_tokens > 0, "plain: usage")
    billable += 1

    for usage_asked in (False, True):
        step(f"stream, include_usage {usage_asked}")
        options = {"stream_options": {"include_usage": True}} if usage_asked else {}
        stream = client.chat.completions.create(model=model, messages=messages("stream me please"), stream=True, **options)
        text, usage = "", None
        for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
            if chunk.usage:
                usage = chunk.usage
        expected = "upstream heard: stream me please" if mode == "upstream" else "[echo provider] You said: stream me please"
        check(text == expected, f"stream: text {text!r}")
        check((usage is not None) == usage_asked, f"stream: usage {usage} when asked {usage_asked}")
        chunks, done = raw_stream({"model": model, "messages": messages("stream me please"), "stream": True, **options})
        strict_stream(chunks, done, usage_asked)
        billable += 2

    step("models")
    listed = client.models.list()
    ids = [m.id for m in listed.data]
    check(ids == (["test-model", "other-model"] if mode == "upstream" else ["echo"]), f"models: {ids}")
    for entry in listed.data:
        check(entry.object == "model" and type(entry.created) is int and entry.owned_by, f"models: {entry}")
    check(client.models.retrieve(ids[0]).id == ids[0], "models: retrieve")
    expect_error(openai.NotFoundError, 404, "model_not_found", lambda: client.models.retrieve("gpt-unknown"))

    step("errors")
    expect_error(openai.AuthenticationError, 401, "invalid_api_key",
                 lambda: OpenAI(base_url=base, api_key="askd_wrong", max_retries=0).chat.completions.create(model=model, messages=messages("x")))
    expect_error(openai.NotFoundError, 404, "model_not_found", lambda: client.chat.completions.create(model="gpt-unknown", messages=messages("x")))
    error = expect_error(openai.BadRequestError, 400, None, lambda: client.chat.completions.create(model=model, messages=[]))
    check(error.body["param"] == "messages", f"400: param {error.body['param']!r}")
    expect_error(openai.NotFoundError, 404, "unknown_url", lambda: client.embeddings.create(model=model, input="x"))
    expect_error(openai.NotFoundError, 404, "unknown_url", lambda: client.responses.create(model=model, input="x"))

    if os.environ.get("ASKD_LIMITED_TOKEN"):
        limit_checks(OpenAI(base_url=base, api_key=os.environ["ASKD_LIMITED_TOKEN"], max_retries=0, timeout=20))

    if mode == "upstream":
        upstream_checks()
    else:
        step("echo: n choices and content parts")
        completion = client.chat.completions.create(model=model, n=2, messages=[{"role": "user", "content": [{"type": "text", "text": "look"}]}])
        check([c.index for c in completion.choices] == [0, 1], f"echo n: {completion.choices}")
        billable += 1

    step("usage counts in /usage")
    deadline = time.time() + 5
    while usage_requests() - usage_before != billable and time.time() < deadline:
        time.sleep(0.05)
    check(usage_requests() - usage_before == billable, f"/usage counted {usage_requests() - usage_before} requests, expected {billable}")
    print(json.dumps({"checks": "passed", "billable": billable}), flush=True)


def limit_checks(limited):
    """A token with `--rpm 2`: OpenAI's x-ratelimit-* headers on a plain answer and on a stream's
    200, then the SDK's RateLimitError; with `--models test-model`, PermissionDeniedError first,
    which does not count."""
    if mode == "upstream":
        step("limits: a model outside the token's list")
        expect_error(openai.PermissionDeniedError, 403, "permission_denied",
                     lambda: limited.chat.completions.create(model="other-model", messages=messages("x")))
    step("limits: headers on a plain answer")
    raw = limited.chat.completions.with_raw_response.create(model=model, messages=messages("limited one"))
    raw.parse()
    check(raw.headers.get("x-ratelimit-limit-requests") == "2", f"plain: x-ratelimit-limit-requests {raw.headers.get('x-ratelimit-limit-requests')!r}")
    check(raw.headers.get("x-ratelimit-remaining-requests") == "1", f"plain: remaining {raw.headers.get('x-ratelimit-remaining-requests')!r}")
    check((raw.headers.get("x-ratelimit-reset-requests") or "").endswith("s"), f"plain: reset {raw.headers.get('x-ratelimit-reset-requests')!r}")
    step("limits: headers on a stream's 200")
    raw = limited.chat.completions.with_raw_response.create(model=model, messages=messages("limited two"), stream=True)
    check(raw.headers.get("x-ratelimit-remaining-requests") == "0", f"stream: remaining {raw.headers.get('x-ratelimit-remaining-requests')!r}")
    check("".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices), "stream: text")
    step("limits: the third request in the minute")
    error = expect_error(openai.RateLimitError, 429, "rate_limit_exceeded",
                         lambda: limited.chat.completions.create(model=model, messages=messages("limited three")))
    check(error.body["message"] == "rate limit reached: 2 requests per minute", f"429: message {error.body['message']!r}")
    check(int(error.response.headers.get("retry-after", "0")) >= 1, f"429: retry-after {error.response.headers.get('retry-after')!r}")
    check(error.response.headers.get("x-ratelimit-remaining-requests") == "0", "429: remaining")


def upstream_checks():
    global billable
    step("tools, plain")
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "The weather in a city",
                                               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=messages('#tool get_weather {"city":"Paris"}'), tools=tools, tool_choice="auto", parallel_tool_calls=False)
    strict_completion(json.loads(raw.text))
    choice = raw.parse().choices[0]
    check(choice.finish_reason == "tool_calls", f"tools: finish_reason {choice.finish_reason}")
    call = choice.message.tool_calls[0]
    check(call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}, f"tools: {call}")
    sent = last_upstream_request()
    check(sent["tools"] == tools and sent["tool_choice"] == "auto" and sent["parallel_tool_calls"] is False, f"tools reach the upstream: {sent}")
    billable += 1

    step("tools, streamed")
    stream = client.chat.completions.create(model=model, messages=messages('#tool get_weather {"city":"Oslo"}'), tools=tools, stream=True)
    name, arguments, finish = "", "", None
    for chunk in stream:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                name += call.function.name or "" if call.function else ""
                arguments += call.function.arguments or "" if call.function else ""
            finish = choice.finish_reason or finish
    check(name == "get_weather" and json.loads(arguments) == {"city": "Oslo"} and finish == "tool_calls", f"streamed tools: {name} {arguments} {finish}")
    chunks, done = raw_stream({"model": model, "messages": messages('#tool get_weather {"city":"Oslo"}'), "tools": tools, "stream": True})
    strict_stream(chunks, done, usage_asked=False)
    billable += 2

    step("fields pass through: response_format, seed, stop, n, logprobs, user, metadata, images, unknown fields")
    schema = {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}
    image = "data:image/png;base64," + "iVBORw0KGgo" * 1000
    parts = [{"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": image, "detail": "low"}}]
    client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": parts}], response_format=schema, seed=12345678901234567, stop=["\n\n"],
        n=1, logprobs=False, user="user-7", metadata={"team": "blue"}, temperature=0.25, max_tokens=77,
        extra_body={"askd_unknown_field": {"nested": [1, 2.5, None]}})
    sent = last_upstream_request()
    for name, value in [("response_format", schema), ("seed", 12345678901234567), ("stop", ["\n\n"]), ("n", 1), ("logprobs", False),
                        ("user", "user-7"), ("metadata", {"team": "blue"}), ("temperature", 0.25), ("max_tokens", 77),
                        ("askd_unknown_field", {"nested": [1, 2.5, None]}), ("messages", [{"role": "user", "content": parts}])]:
        check(sent.get(name) == value, f"{name} must reach the upstream unchanged: {str(sent.get(name))[:200]}")
    check("stream_options" not in sent, "a plain request gets no stream_options")
    billable += 1
    client.chat.completions.create(model=model, messages=messages("count me"), stream=True).close()
    sent = last_upstream_request()
    check(sent.get("stream_options") == {"include_usage": True}, f"askd always asks a stream's usage: {sent.get('stream_options')}")
    billable += 1

    step("a sloppy upstream's chunks come out whole")
    chunks, done = raw_stream({"model": model, "messages": messages("#sloppy"), "stream": True, "stream_options": {"include_usage": True}})
    strict_stream(chunks, done, usage_asked=True)
    chunks, done = raw_stream({"model": model, "messages": messages("#sloppy"), "stream": True})
    strict_stream(chunks, done, usage_asked=False)
    billable += 2

    step("upstream errors")
    error = expect_error(openai.RateLimitError, 429, "rate_limit_exceeded", lambda: client.chat.completions.create(model=model, messages=messages("#status 429")))
    check(error.response.headers.get("retry-after") == "7", "429: the upstream's Retry-After")
    error = expect_error(openai.APIStatusError, 502, "upstream_error", lambda: client.chat.completions.create(model=model, messages=messages("#status 500")))
    check("secret" not in error.body["message"], "502: the upstream's own words stay in the log")
    error = expect_error(openai.BadRequestError, 400, "invalid_value", lambda: client.chat.completions.create(model=model, messages=messages("#reject")))
    check(error.body["param"] == "tools", f"the upstream's 400 keeps its param: {error.body}")
    expect_error(openai.APIStatusError, 502, "upstream_error",
                 lambda: client.chat.completions.create(model=model, messages=messages("#status 500"), stream=True))

    step("an error after the first chunk is an error event, then the end")
    stream = client.chat.completions.create(model=model, messages=messages("#dripfail 6 20 2"), stream=True)
    text = ""
    try:
        for chunk in stream:
            text += chunk.choices[0].delta.content or "" if chunk.choices else ""
        raise CheckFailed("a stream that broke midway must raise")
    except openai.APIError as error:
        check(text == "w0 w1 ", f"midway: the chunks before the error came: {text!r}")
        check(isinstance(error.body, dict) and error.body.get("code") == "upstream_error", f"midway: the error event: {error.body}")
    chunks_and_error = []
    request = urllib.request.Request(base + "/chat/completions", method="POST",
                                     data=json.dumps({"model": model, "messages": messages("#dripfail 6 20 2"), "stream": True}).encode(),
                                     headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=20) as response:
        check(response.status == 200, "midway: the stream began as a 200")
        chunks_and_error = [line.decode().strip() for line in response if line.startswith(b"data: ")]
    last = json.loads(chunks_and_error[-1][len("data: "):])
    check(set(last) == {"error"} and last["error"]["param"] is None and "[DONE]" not in chunks_and_error[-1], f"midway: last event {last}")

    step("a client that leaves cuts the upstream")
    stream = client.chat.completions.create(model=model, messages=messages("#drip 100 100"), stream=True)
    for index, _ in enumerate(stream):
        if index == 2:
            break
    left = time.time()
    stream.close()
    closed = None
    deadline = time.time() + 5
    while closed is None and time.time() < deadline:
        try:
            with open(record_path + ".events") as events:
                closed = next((json.loads(l) for l in events if json.loads(l)["prompt"] == "#drip 100 100"), None)
        except OSError:
            pass
        time.sleep(0.02)
    check(closed is not None and closed["at"] - left < 2.5, f"the upstream must see askd close the stream: {closed}")
    billable += 1


try:
    main()
except (CheckFailed, openai.APIError, AssertionError, KeyError, ValueError, TypeError, OSError) as failure:
    print(f"sdk: FAILED: {type(failure).__name__}: {failure}", flush=True)
    sys.exit(1)
