"""The one clock every deadline, timer, sweep and timestamp reads.

`LIAISON_NOW` (ISO-8601) makes the clock start at that instant and run forward in real
time, so demos, training and multi-process tests can live on a chosen day. Tests that
run in-process move time with `travel_to` / `advance` instead.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

_lock = threading.Lock()
_anchor: tuple[datetime, float] | None = None  # (instant, monotonic reading at that instant)


def _parse_instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=business_timezone())
    return value.astimezone(UTC)


def business_timezone() -> ZoneInfo:
    return ZoneInfo(os.environ.get("LIAISON_TIMEZONE", "Asia/Shanghai"))


def now() -> datetime:
    """Current instant, timezone-aware UTC."""
    global _anchor
    with _lock:
        if _anchor is None and (configured := os.environ.get("LIAISON_NOW")):
            _anchor = (_parse_instant(configured), time.monotonic())
        anchor = _anchor
    if anchor is None:
        return datetime.now(UTC)
    start, reading = anchor
    return start + timedelta(seconds=time.monotonic() - reading)


def local_now() -> datetime:
    """Current instant in the business time zone (for working days and numbering)."""
    return now().astimezone(business_timezone())


def travel_to(instant: datetime | str) -> None:
    """Move the clock to `instant`; it keeps running forward from there."""
    global _anchor
    value = _parse_instant(instant) if isinstance(instant, str) else instant.astimezone(UTC)
    with _lock:
        _anchor = (value, time.monotonic())


@contextmanager
def travelling(instant: datetime) -> Iterator[None]:
    """Run a block at `instant` (the clock runs on from there), then restore the clock."""
    global _anchor
    with _lock:
        previous = _anchor
    travel_to(instant)
    try:
        yield
    finally:
        with _lock:
            _anchor = previous


def advance(delta: timedelta) -> None:
    travel_to(now() + delta)


def reset() -> None:
    """Back to the real clock (or LIAISON_NOW, re-read on next use)."""
    global _anchor
    with _lock:
        _anchor = None
