"""An S3 recipient list is streamed within a byte budget: never read whole, refused as soon as it is over."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from consent_sync.store import artifacts
from consent_sync.store.artifacts import ListRefused, read_lines


class _Body:
    """A streaming body that counts what was read; far larger than any budget (it ends at 8 MB, so
    that a reader without one fails here instead of running out of memory)."""

    END = 8 * 1024 * 1024

    def __init__(self, chunk: bytes) -> None:
        self.chunk = chunk
        self.read = 0
        self.closed = False

    def iter_chunks(self, chunk_size: int) -> Iterator[bytes]:
        assert chunk_size <= 1024 * 1024  # read in pieces, never whole
        while self.read < self.END:
            self.read += len(self.chunk)
            yield self.chunk

    def close(self) -> None:
        self.closed = True


class _S3:
    def __init__(self, body: _Body, length: int | None) -> None:
        self.body = body
        self.length = length

    def get_object(self, **_: Any) -> dict[str, Any]:
        answer: dict[str, Any] = {"Body": self.body}
        if self.length is not None:
            answer["ContentLength"] = self.length
        return answer


def _read(
    monkeypatch: pytest.MonkeyPatch, body: _Body, length: int | None = None, **limits: int
) -> list[str]:
    monkeypatch.setattr(artifacts, "client", lambda service: _S3(body, length))
    options = {"max_bytes": 1_000_000, "max_line_bytes": 100, "max_lines": 1_000_000, **limits}
    return list(read_lines("s3://bucket/recipients/acme/list.txt", **options))


def test_an_endless_object_is_refused_after_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    body = _Body(b"anna@example.com\n" * 1000)
    with pytest.raises(ListRefused) as caught:
        _read(monkeypatch, body, max_bytes=100_000)
    assert caught.value.reason == "recipients_too_large"
    assert body.read <= 100_000 + len(body.chunk)  # stopped at the budget
    assert body.closed


def test_an_object_that_says_it_is_too_large_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    body = _Body(b"anna@example.com\n")
    with pytest.raises(ListRefused) as caught:
        _read(monkeypatch, body, length=2_000_000)
    assert caught.value.reason == "recipients_too_large"
    assert body.read == 0


def test_a_line_without_end_is_refused_without_buffering_it(monkeypatch: pytest.MonkeyPatch) -> None:
    body = _Body(b"x" * 4096)
    with pytest.raises(ListRefused) as caught:
        _read(monkeypatch, body)
    assert caught.value.reason == "recipients_line_too_long"
    assert body.read == 4096  # the first piece already told


def test_too_many_lines_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    body = _Body(b"anna@example.com\n\n  \n" * 10)
    with pytest.raises(ListRefused) as caught:
        _read(monkeypatch, body, max_lines=25)
    assert caught.value.reason == "recipients_too_many"


class _Finite(_Body):
    def __init__(self, data: bytes, piece: int) -> None:
        super().__init__(b"")
        self.data = data
        self.piece = piece

    def iter_chunks(self, chunk_size: int) -> Iterator[bytes]:
        for start in range(0, len(self.data), self.piece):
            yield self.data[start : start + self.piece]


def test_lines_split_across_pieces_are_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"anna@example.com\r\n\n  bo@example.se  \nlast@example.org"
    assert _read(monkeypatch, _Finite(data, 5)) == ["anna@example.com", "bo@example.se", "last@example.org"]
