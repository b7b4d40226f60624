"""AnswerMemo on its own: what it keeps, for how long, and within which bounds."""

from __future__ import annotations

import sys
from typing import Any

from openkvs.http import answer_memo
from openkvs.http.answer_memo import Answer, AnswerMemo, memo_key
from openkvs.http.context import Ctx


def scope(path: str, method: str = "GET", token: bytes = b"Bearer t") -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"h"), (b"authorization", token)],
    }


def answered(memo: AnswerMemo, request: dict[str, Any], body: bytes, status: int = 200) -> Ctx:
    """A Ctx as the general path leaves it after answering `request` with `body`."""
    ctx = Ctx(request, None, None, "id", None)
    ctx.memo_key = memo_key(request)
    ctx.memo_generation = memo.generation
    ctx.status = status
    ctx.sent_headers = [(b"content-length", str(len(body)).encode())]
    ctx.answer_body = body
    return ctx


def keep(memo: AnswerMemo, path: str, body: bytes, key: str = "k") -> None:
    """The same request answered twice by the general path: kept the second time."""
    request = scope(path)
    for _ in range(2):
        assert find(memo, request) is None
        memo.keep(answered(memo, request, body), "s1", key)


def find(memo: AnswerMemo, request: dict[str, Any]) -> Answer | None:
    return memo.lookup(memo_key(request))


def test_a_kept_answer_is_found_by_the_same_request_only() -> None:
    memo = AnswerMemo()
    keep(memo, "/r/k", b"body")
    found = find(memo, scope("/r/k"))
    assert found is not None
    assert found.body["body"] == b"body" and found.start["status"] == 200
    assert find(memo, scope("/r/k", token=b"Bearer other")) is None
    assert find(memo, scope("/r/k2")) is None
    request = scope("/r/q")
    request["query_string"] = b"attachment=true"
    assert find(memo, request) is None


def test_an_answer_is_kept_the_second_time_it_is_made() -> None:
    memo = AnswerMemo()
    request = scope("/r/k")
    memo.keep(answered(memo, request, b"x"), "s1", "k")
    assert find(memo, request) is None
    memo.keep(answered(memo, request, b"x"), "s1", "k")
    assert find(memo, request) is not None


def test_only_whole_200_answers_made_without_a_change_meanwhile_are_kept() -> None:
    memo = AnswerMemo()
    request = scope("/r/k")
    for _ in range(2):
        memo.keep(answered(memo, request, b"x", status=206), "s1", "k")
    assert find(memo, request) is None
    for _ in range(2):
        ctx = answered(memo, request, b"x")
        memo.record_changed("s1", "other")  # a commit applied while the answer was being made
        memo.keep(ctx, "s1", "k")
    assert find(memo, request) is None
    for _ in range(2):
        overridden = answered(memo, request, b"x")
        overridden.method = "DELETE"  # ?method=DELETE
        memo.keep(overridden, "s1", "k")
    assert find(memo, request) is None


def test_changes_drop_the_answers_they_touch() -> None:
    memo = AnswerMemo()
    keep(memo, "/r/a", b"a", key="a")
    keep(memo, "/by-name/a", b"a", key="a")
    keep(memo, "/r/b", b"b", key="b")
    memo.record_changed("s1", "a")
    assert find(memo, scope("/r/a")) is None
    assert find(memo, scope("/by-name/a")) is None
    assert find(memo, scope("/r/b")) is not None
    memo.everything_changed()
    assert len(memo) == 0


def test_changes_are_applied_before_every_lookup() -> None:
    memo = AnswerMemo()
    keep(memo, "/r/a", b"a", key="a")
    queued = [("s1", "a")]
    memo.refresh = lambda: [memo.record_changed(*change) for change in queued] and None
    assert find(memo, scope("/r/a")) is None


def test_entries_and_bytes_are_bounded_oldest_first(monkeypatch: Any) -> None:
    monkeypatch.setattr(answer_memo, "ENTRIES_LIMIT", 3)
    monkeypatch.setattr(answer_memo, "BYTES_LIMIT", 160)
    monkeypatch.setattr(answer_memo, "FULL_ADMISSION", 1)  # every newcomer let in
    memo = AnswerMemo()
    for i in range(5):
        keep(memo, f"/r/{i}", b"x", key=str(i))
    assert len(memo) == 3
    assert find(memo, scope("/r/1")) is None and find(memo, scope("/r/4")) is not None
    keep(memo, "/r/big", b"y" * 11, key="big")  # over BYTES_LIMIT // 16: never kept
    assert find(memo, scope("/r/big")) is None
    for i in range(5, 10):
        keep(memo, f"/r/{i}", b"z" * 10, key=str(i))
    assert find(memo, scope("/r/9")) is not None
    assert sum(find(memo, scope(f"/r/{i}")) is not None for i in range(10)) == 3
    memo.record_changed("s1", "9")  # the byte count stays right as answers go
    keep(memo, "/r/again", b"w" * 10, key="again")
    assert len(memo) == 3


def test_a_kept_answer_holds_no_reference_to_the_token() -> None:
    memo = AnswerMemo()
    token = b"Bearer okvs_" + bytes(range(65, 91)) * 2  # a fresh object, referenced only here
    request = scope("/r/secret", token=token)
    before = sys.getrefcount(token)
    for _ in range(2):
        memo.keep(answered(memo, request, b"body"), "s1", "k")
    assert find(memo, request) is not None  # kept, and found by the same request
    assert sys.getrefcount(token) == before


def test_once_full_only_one_newcomer_in_sixteen_is_let_in(monkeypatch: Any) -> None:
    """Records read at random beyond the bounds do not replace an answer on every request."""
    monkeypatch.setattr(answer_memo, "ENTRIES_LIMIT", 4)
    memo = AnswerMemo()
    for i in range(4):
        keep(memo, f"/r/{i}", b"x", key=str(i))
    first = [find(memo, scope(f"/r/{i}")) for i in range(4)]
    assert all(first)
    newcomers = 0
    for i in range(4, 4 + 4 * answer_memo.FULL_ADMISSION):
        request = scope(f"/r/{i}")
        for _ in range(2):  # answered twice: kept if let in
            memo.keep(answered(memo, request, b"y"), "s1", str(i))
        newcomers += find(memo, request) is not None
    assert len(memo) == 4
    # A newcomer let in replaces the oldest; a few got in, most were turned away.
    assert 1 <= newcomers <= 8, newcomers
    # An answer already kept is still refreshed in place when made again.
    kept = next(scope(f"/r/{i}") for i in range(4, 100) if find(memo, scope(f"/r/{i}")))
    memo.keep(answered(memo, kept, b"z"), "s1", "again")
    memo.keep(answered(memo, kept, b"z"), "s1", "again")
    assert find(memo, kept) is not None
