"""Answers to repeated, identical GETs of small records, kept until what they show changes.

A kept answer is the exact status, headers and body the general path sent for one request: the
same method, raw path, query and headers, all of them (so the same token, conditions, range and
encoding). Such a request is answered again from the memo without parsing it, which takes most
of openkvs's own work off a repeated small GET (docs/performance.md). An answer is kept the
second time the general path makes it, so GETs that are never repeated pay only for a note.

It is safe because nothing else goes into such an answer than what the backend's change feed
reports: the record (`record_changed`), and the token, the store and its access
(`everything_changed`, which drops every answer). The feed is the embedded read cache's; a
backend without one (scale-out: other nodes write behind this one's back) gets no memo. An
answer is kept only if no change was applied while it was being made, and every lookup first
applies the queued changes (`refresh`), the read cache's own rule: nothing served from the memo
is older than a write already answered.

What the general path does besides answering is done again on a hit: the read is counted. Rate
limits are checked per request, so with them set no answer is kept. Errors, partial answers,
304s and bodies decoded for the client are never kept.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from itertools import chain
from typing import Any

from openkvs.http.context import Ctx

ENTRIES_LIMIT = 4096
BYTES_LIMIT = 16 * 1024 * 1024
# Once full, one new answer in this many is let in (replacing the oldest): GETs spread at random
# over more records than the memo holds would otherwise replace an answer on most requests, and
# pay for it (W8: about a third of its throughput), while the answers kept are hit no more often.
FULL_ADMISSION = 16

MemoKey = bytes


class Answer:
    """One kept answer: ASGI messages to send again, and the record they show."""

    __slots__ = ("body", "memo_key", "record", "size", "start", "store_id", "user_id")

    def __init__(
        self,
        memo_key: MemoKey,
        store_id: str,
        key: str,
        headers: list[Any],
        body: bytes,
        user_id: str | None = None,
    ) -> None:
        self.memo_key = memo_key
        self.store_id = store_id
        self.user_id = user_id  # who asked (the token is part of the key), for the log
        self.record = (store_id, key)
        self.size = len(body)
        self.start = {"type": "http.response.start", "status": 200, "headers": headers}
        self.body = {"type": "http.response.body", "body": body, "more_body": False}


def memo_key(scope: dict[str, Any]) -> MemoKey:
    """What identifies a GET: a digest of its raw path, query and every header (the token among
    them: kept as such, it would keep plaintext tokens in memory for as long as the answer).
    Ambiguous joins cannot matter: two requests that differ only there are one caller's own."""
    parts = [scope["raw_path"], scope["query_string"], *chain.from_iterable(scope["headers"])]
    return hashlib.blake2b(b"\0".join(parts), digest_size=16).digest()


def _nothing_queued() -> None:
    return None


class AnswerMemo:
    def __init__(self) -> None:
        # What applies the backend's queued changes, calling us back (Backend.watch_changes).
        self.refresh: Callable[[], None] = _nothing_queued
        self._answers: OrderedDict[MemoKey, Answer] = OrderedDict()  # the oldest first
        self._by_record: dict[tuple[str, str], list[Answer]] = {}
        self._seen: set[int] = set()  # hashes of requests answered once, not yet kept
        self._bytes = 0
        self._turned_away = 0  # new answers not let in while full
        self.generation = 0  # moved by every change applied

    def lookup(self, mkey: MemoKey) -> Answer | None:
        """The kept answer to the GET whose `memo_key` is `mkey`, if any."""
        self.refresh()
        return self._answers.get(mkey)

    def keep(self, ctx: Ctx, store_id: str, key: str) -> None:
        """Keep what the general path just sent for `ctx`, if it may be sent again."""
        body = ctx.answer_body
        mkey = ctx.memo_key
        if body is None or mkey is None or ctx.status != 200 or ctx.method != "GET":
            return  # not a whole 200; or ?method= made it another method
        user_id = ctx.user.id if ctx.user is not None else None
        self.keep_sent(mkey, ctx.memo_generation, store_id, key, user_id, ctx.sent_headers, body)

    def keep_sent(
        self,
        mkey: MemoKey,
        generation: int,
        store_id: str,
        key: str,
        user_id: str | None,
        headers: list[Any],
        body: bytes,
    ) -> None:
        """Keep a whole 200 just sent to the GET `mkey`, begun when the memo was at
        `generation`, if it may be sent again."""
        self.refresh()
        if generation != self.generation:
            return  # something changed while it was made
        if len(body) > BYTES_LIMIT // 16:
            return
        # The first time, only noted (by hash: a false match just keeps an answer early), so
        # GETs that are never repeated cost little and keep nothing of their requests.
        seen = self._seen
        if len(seen) >= ENTRIES_LIMIT:
            seen.clear()
        noted = len(seen)
        mhash = hash(mkey)
        seen.add(mhash)
        if len(seen) != noted:
            return
        seen.discard(mhash)
        answers = self._answers
        if mkey not in answers and (
            len(answers) >= ENTRIES_LIMIT or self._bytes + len(body) > BYTES_LIMIT
        ):
            self._turned_away += 1
            if self._turned_away % FULL_ADMISSION:
                return
        self._drop(answers.get(mkey))
        while answers and (len(answers) >= ENTRIES_LIMIT or self._bytes + len(body) > BYTES_LIMIT):
            self._drop(next(iter(answers.values())))  # the oldest
        answer = Answer(mkey, store_id, key, headers, body, user_id)
        answers[mkey] = answer
        self._by_record.setdefault(answer.record, []).append(answer)
        self._bytes += len(body)

    def __len__(self) -> int:
        return len(self._answers)

    def _drop(self, answer: Answer | None) -> None:
        if answer is None or self._answers.pop(answer.memo_key, None) is None:
            return
        self._bytes -= answer.size
        same = self._by_record[answer.record]
        same.remove(answer)
        if not same:
            del self._by_record[answer.record]

    # the backend's change feed, called from `refresh` on the event loop
    def record_changed(self, store_id: str, key: str) -> None:
        self.generation += 1
        for answer in list(self._by_record.get((store_id, key), ())):
            self._drop(answer)

    def everything_changed(self) -> None:
        self.generation += 1
        self._seen.clear()
        self._answers.clear()
        self._by_record.clear()
        self._bytes = 0
