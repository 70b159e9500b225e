#!/usr/bin/env python3
"""Times GET /search through nginx for each class of bench/search_corpus.py's queries.

    search_load.py PORT TOKEN QUERIES_JSON STORE OUT_JSON [ROUNDS]

One client on one kept-alive connection, one query at a time (the latency of a search, not a
throughput): every query of a class ROUNDS (3) times, after one untimed pass over all of them
(a warm cache, as a server that has run a while has). Prints and writes p50 and p99 per class.
"""
import http.client
import json
import sys
import time
import urllib.parse

port, token, queries_path, store, out_path = sys.argv[1:6]
rounds = int(sys.argv[6]) if len(sys.argv) > 6 else 3
queries = json.load(open(queries_path))
classes = ("rare", "phrase", "common", "prefix")
bars = {"rare": 50, "phrase": 50, "common": 500, "prefix": 500}
connection = http.client.HTTPConnection("127.0.0.1", int(port))
headers = {"Authorization": "Bearer " + token}


def search(q):
    started = time.perf_counter()
    connection.request("GET", "/search?q=" + urllib.parse.quote(q) + "&limit=20", headers=headers)
    response = connection.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise SystemExit("search %r: %d %s" % (q, response.status, body[:200]))
    return elapsed, len(json.loads(body)["results"])


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


for name in classes:
    for q in queries[name]:
        search(q)
result = {"store": store, "classes": {}}
for name in classes:
    times, empty = [], 0
    for _ in range(rounds):
        for q in queries[name]:
            elapsed, hits = search(q)
            times.append(elapsed)
            empty += hits == 0
    result["classes"][name] = {
        "queries": len(queries[name]), "requests": len(times), "empty": empty, "p50_ms": round(pct(times, 50), 2),
        "p99_ms": round(pct(times, 99), 2), "max_ms": round(max(times), 2), "bar_p99_ms": bars[name],
        "meets_bar": pct(times, 99) <= bars[name],
    }
    c = result["classes"][name]
    print("  %-8s %-7s p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  (%d requests, %d empty; bar p99 <= %d ms: %s)"
          % (store, name, c["p50_ms"], c["p99_ms"], c["max_ms"], c["requests"], c["empty"], bars[name],
             "met" if c["meets_bar"] else "NOT met"))
json.dump(result, open(out_path, "w"), indent=1)
