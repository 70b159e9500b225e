#!/usr/bin/env python3
"""Fills an askd SQLite file (made and migrated by askd) with conversations for bench/search, and
writes the queries to time.

    search_corpus.py DB QUERIES_JSON CALLER_TOKEN_ID OTHER_TOKEN_ID[,...] [MESSAGES_PER_SIDE]

The caller's conversations hold MESSAGES_PER_SIDE (100,000) messages, and the other tokens'
together as many again: 20 messages (10 turns) a conversation, a third of them with a title.
Texts are words drawn from a vocabulary of 30,000 made-up words (syllables, so that prefixes
are shared) with Zipf's distribution (s = 1), 8 to 60 words a message. They go in with plain
INSERTs in one transaction: the triggers of the search migration queue every row, and the script hands the queue to FTS5 before its commit, as askd's own
writes do. Queries, drawn after the fact from what was written (seeded, so runs compare):
  rare     words in 0.1 %..1 % of the caller's messages
  phrase   two adjacent words of a caller's message, at least one outside the 200 most common
  common   the 20 most common words (each in most messages)
  prefix   3-letter prefixes of common words, with a `*`
"""
import json
import random
import sqlite3
import sys
from collections import Counter

db_path, queries_path, caller, others = sys.argv[1:5]
others = others.split(",")
per_side = int(sys.argv[5]) if len(sys.argv) > 5 else 100_000
rng = random.Random(22)

syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + ["qu", "th", "sh", "ch", "st", "tr"]
vocabulary, seen = [], set()
while len(vocabulary) < 30_000:
    word = "".join(rng.choice(syllables) for _ in range(rng.choice((1, 2, 2, 3, 3, 3, 4))))
    if word not in seen:
        seen.add(word)
        vocabulary.append(word)
weights, total = [], 0.0
for rank in range(1, len(vocabulary) + 1):
    total += 1.0 / rank
    weights.append(total)


def text(words):
    return " ".join(rng.choices(vocabulary, cum_weights=weights, k=words))


db = sqlite3.connect(db_path)
db.execute("PRAGMA foreign_keys = ON")
caller_df, caller_messages = Counter(), []
start_ms = 1_780_000_000_000
conversations = per_side // 20
with db:
    for side, owners in (("caller", [caller]), ("others", others)):
        for index in range(conversations):
            owner = owners[index % len(owners)]
            cid = "%s-%06d" % (side, index)
            created = start_ms + index * 60_000 + (0 if side == "caller" else 7)
            title = text(rng.randint(3, 5)) if index % 3 == 0 else None
            db.execute(
                "INSERT INTO conversations (id, token_id, created_at, updated_at, title) VALUES (?, ?, ?, ?, ?)",
                (cid, owner, created, created + 20_000, title),
            )
            rows = []
            for seq in range(1, 21):
                content = text(rng.randint(8, 60))
                if side == "caller":
                    caller_df.update(set(content.split()))
                    if rng.random() < 0.02:
                        caller_messages.append(content)
                role = "user" if seq % 2 else "assistant"
                rows.append((cid, seq, role, content, None if role == "user" else "bench-model", created + seq * 1_000))
            db.executemany(
                "INSERT INTO messages (conversation_id, seq, role, content, model, created_at) VALUES (?, ?, ?, ?, ?, ?)", rows
            )
    # What askd's write transactions do before their commit (SQLiteSearchSchema.flush).
    db.execute(
        "INSERT INTO search_index (search_index, rowid, body) "
        "SELECT CASE removal WHEN 1 THEN 'delete' END, doc, body FROM search_pending ORDER BY id"
    )
    db.execute("DELETE FROM search_pending")
db.close()

common_set = set(vocabulary[:200])
rare = [w for w, n in caller_df.items() if per_side * 0.001 <= n <= per_side * 0.01]
rng.shuffle(rare)
phrases = []
while len(phrases) < 200:
    words = rng.choice(caller_messages).split()
    at = rng.randrange(len(words) - 1)
    pair = words[at:at + 2]
    if not (pair[0] in common_set and pair[1] in common_set):
        phrases.append('"%s %s"' % tuple(pair))
common = vocabulary[:20]
prefixes = sorted({w[:3] + "*" for w in vocabulary[:100] if len(w) >= 3})[:20]
queries = {
    "rare": rare[:200], "phrase": phrases, "common": common, "prefix": prefixes,
    "rare_df": {w: caller_df[w] for w in rare[:200]}, "common_df": {w: caller_df[w] for w in common},
    "caller_messages": per_side, "other_messages": per_side,
}
json.dump(queries, open(queries_path, "w"), indent=1)
print("search corpus: %d conversations, %d messages each side; %d rare words (df %d..%d), common df %d..%d"
      % (conversations, conversations * 20, len(rare), min(caller_df[w] for w in rare[:200]), max(caller_df[w] for w in rare[:200]),
         min(caller_df[w] for w in common), max(caller_df[w] for w in common)))
