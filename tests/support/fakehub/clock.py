"""Timestamps in the exact shapes the Hub sends (and huggingface_hub's `parse_datetime` accepts)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_z(dt: datetime) -> str:
    """`2026-05-12T14:58:25.162Z`: UTC, millisecond fraction, trailing `Z` (what the Hub sends)."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def started_banner(dt: datetime) -> str:
    """The first event of every Jobs log stream (#4202): `===== Job started at YYYY-MM-DD HH:MM:SS =====`."""
    return f"===== Job started at {dt.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S')} ====="


def parse_when(value: str | datetime | float | None) -> datetime | None:
    """Accept a datetime, an ISO string (with or without `Z`) or a unix time for test convenience."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    text = value.replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
