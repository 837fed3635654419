"""core.hub's retry policy and error hints, without a server: what is retried, how long it waits, when it stops."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import OfflineError, TunerError
from core.hub import (
    RetryPolicy,
    call_with_retries,
    hub_error,
    is_retryable,
    parse_ratelimit_reset,
    retry_after_of,
)


class Resp:
    def __init__(self, status: int, headers: dict[str, str] | None = None, url: str = "") -> None:
        self.status_code = status
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.request = type("Req", (), {"url": url})()


class HttpError(Exception):
    def __init__(self, status: int, headers: dict[str, str] | None = None, url: str = "") -> None:
        super().__init__(f"HTTP {status}")
        self.response = Resp(status, headers, url)


class ConnectError(Exception):  # named like httpx2's: classified by name, no HTTP library imported
    pass


class ReadTimeout(Exception):
    pass


def test_which_failures_are_retried() -> None:
    assert is_retryable(HttpError(429)) and is_retryable(HttpError(503)) and is_retryable(HttpError(500))
    assert not any(is_retryable(HttpError(s)) for s in (400, 401, 403, 404, 409))
    assert is_retryable(ConnectError()) and is_retryable(ReadTimeout()) and is_retryable(ConnectionResetError())
    assert is_retryable(OfflineError("down"))
    assert not is_retryable(ValueError("bad")) and not is_retryable(TypeError("old client"))
    # Not idempotent (creating a job): only what the Hub surely did not act on.
    assert is_retryable(HttpError(429), idempotent=False) and is_retryable(ConnectError(), idempotent=False)
    assert not is_retryable(HttpError(500), idempotent=False)
    assert not is_retryable(ReadTimeout(), idempotent=False)


def test_backoff_is_exponential_jittered_and_bounded() -> None:
    policy = RetryPolicy(base_s=1.0, max_backoff_s=8.0, jitter=0.25)
    low = [policy.delay(n, rng=lambda: 0.0) for n in range(1, 7)]
    high = [policy.delay(n, rng=lambda: 1.0) for n in range(1, 7)]
    assert low == [0.75, 1.5, 3.0, 6.0, 6.0, 6.0]
    assert high == [1.25, 2.5, 5.0, 8.0, 8.0, 8.0]  # never above the cap
    assert len({round(policy.delay(3), 6) for _ in range(20)}) > 1  # jittered


def test_retry_after_is_honoured_and_capped() -> None:
    policy = RetryPolicy(max_retry_after_s=30.0, jitter=0.25)
    assert 7.0 <= policy.delay(1, 7.0) <= 7.0 * 1.05  # never earlier than asked
    assert 30.0 <= policy.delay(1, 600.0) <= 31.5  # capped
    assert retry_after_of(HttpError(429, {"Retry-After": "12"})) == 12.0
    assert retry_after_of(HttpError(429, {"RateLimit": '"api";r=0;t=55'})) == 55.0
    assert parse_ratelimit_reset('"api";r=3;t=55') is None  # requests left: not a wait


def test_call_with_retries_gives_up_after_the_policy_attempts() -> None:
    waits: list[float] = []
    calls: list[int] = []

    def always_503() -> Any:
        calls.append(1)
        raise HttpError(503)

    with pytest.raises(HttpError):
        call_with_retries(always_503, policy=RetryPolicy(attempts=4), sleep=waits.append, rng=lambda: 0.5)
    assert len(calls) == 4 and waits == [1.0, 2.0, 4.0]
    answers = iter([HttpError(429, {"Retry-After": "1"}), HttpError(429, {"Retry-After": "1"}), HttpError(500), "ok"])

    def flaky() -> Any:
        value = next(answers)
        if isinstance(value, Exception):
            raise value
        return value

    notices: list[Any] = []
    waits.clear()
    assert call_with_retries(flaky, policy=RetryPolicy(attempts=4), sleep=waits.append, on_retry=notices.append,
                             rng=lambda: 0.0) == "ok"
    assert waits[:2] == [1.0, 1.0] and [n.reason for n in notices] == ["rate limited (429)"] * 2 + \
        ["server error (500)"]
    with pytest.raises(HttpError):  # a 404 is an answer: no retry
        call_with_retries(lambda: (_ for _ in ()).throw(HttpError(404)), sleep=waits.append)


@pytest.mark.parametrize(("status", "url", "good", "bad"), [
    (403, "http://hub/api/jobs/alice/0123456789abcdef01234567", "Jobs permission", "license"),
    (404, "http://hub/api/jobs/alice/0123456789abcdef01234567", "job id", "repo id"),
    (404, "http://hub/api/jobs/nobody", "--namespace", "repo id"),
    (403, "http://hub/api/models/meta/llama/revision/main", "license", "Jobs"),
    (404, "http://hub/api/datasets/you/data", "repo id", "job id"),
])
def test_hints_fit_the_request_that_failed(status: int, url: str, good: str, bad: str) -> None:
    line = hub_error(HttpError(status, url=url), "x").one_line()
    assert good in line and bad not in line


def test_a_request_that_cannot_be_placed_gets_no_guess() -> None:
    line = hub_error(HttpError(404), "x").one_line()
    assert "404" in line and "repo" not in line and "job" not in line
    assert isinstance(hub_error(ConnectError("refused"), "x"), OfflineError)
    assert "failed (502)" in hub_error(HttpError(502), "x").one_line()
    assert isinstance(hub_error(HttpError(429, {"Retry-After": "30"}), "x"), TunerError)
    assert "retry in 30s" in hub_error(HttpError(429, {"Retry-After": "30"}), "x").one_line()


def test_a_rate_limit_longer_than_the_longest_wait_fails_at_once_saying_when() -> None:
    """A fixed-window quota refuses every try before its reset: three capped waits only delayed the error."""
    calls: list[int] = []
    waits: list[float] = []

    def refused() -> None:
        calls.append(1)
        raise HttpError(429, {"Retry-After": "3600"})

    with pytest.raises(HttpError) as info:
        call_with_retries(refused, policy=RetryPolicy(attempts=4, max_retry_after_s=60.0), sleep=waits.append)
    assert calls == [1] and waits == []
    assert "retry in 3600s" in hub_error(info.value, "inspect job").one_line()

    def briefly_refused() -> None:
        calls.append(1)
        raise HttpError(429, {"Retry-After": "2"})

    calls.clear()
    with pytest.raises(HttpError):  # a short one is still waited out, on every attempt
        call_with_retries(briefly_refused, policy=RetryPolicy(attempts=3), sleep=waits.append)
    assert len(calls) == 3 and len(waits) == 2 and all(w >= 2.0 for w in waits)
