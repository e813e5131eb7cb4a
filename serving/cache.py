"""Response cache: Redis when REDIS_URL is set, an in-process LRU otherwise.

Redis being down or slow never fails a request: every Redis call has a short timeout, an error
switches the cache to the in-process LRU for a back-off period, and then Redis is tried again.
Keys carry the bundle version, so a new promotion can never be answered with an old curve.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from typing import Any

log = logging.getLogger(__name__)
BACKOFF_SECONDS = 5.0


def cache_key(stock_code: str, version: str, params: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:24]
    return f"pricing:v4:{stock_code}:{version}:{digest}"


class LRUCache:
    """Bounded in entries and in bytes, thread-safe, with a time to live per entry.

    The byte bound matters: a 1000-bin curve is about 150 kB, so 2048 of them, which anyone can
    ask for, would hold 300 MB in the server; least recently used entries go first.
    """

    def __init__(self, max_entries: int = 2048, ttl_seconds: float = 300.0, max_bytes: int = 32 * 2**20) -> None:
        self.max_entries, self.ttl, self.max_bytes = max_entries, ttl_seconds, max_bytes
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._data)

    def _drop(self, key: str) -> None:
        self._bytes -= len(self._data.pop(key)[1])

    def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            if entry[0] < time.monotonic():
                self._drop(key)
                return None
            self._data.move_to_end(key)
            return entry[1]

    def set(self, key: str, value: bytes) -> None:
        if len(value) > self.max_bytes:
            return  # would evict everything else and still not fit
        with self._lock:
            if key in self._data:
                self._drop(key)
            self._data[key] = (time.monotonic() + self.ttl, value)
            self._bytes += len(value)
            while len(self._data) > self.max_entries or self._bytes > self.max_bytes:
                self._drop(next(iter(self._data)))


class ResponseCache:
    """Redis first (when configured), the LRU as the fallback; ``backend`` says which answered."""

    def __init__(self, redis_url: str | None, ttl_seconds: int, timeout_seconds: float = 0.05) -> None:
        self.ttl = ttl_seconds
        self.local = LRUCache(ttl_seconds=ttl_seconds)
        self.redis = None
        self._down_until = 0.0
        if redis_url:
            import redis

            self.redis = redis.Redis.from_url(
                redis_url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds
            )

    @property
    def backend(self) -> str:
        if self.redis is None:
            return "memory"
        return "memory (redis unavailable)" if time.monotonic() < self._down_until else "redis"

    def _redis_ok(self) -> bool:
        return self.redis is not None and time.monotonic() >= self._down_until

    def _redis_failed(self, exc: Exception) -> None:
        self._down_until = time.monotonic() + BACKOFF_SECONDS
        log.warning("redis unavailable (%s); using the in-process cache for %.0fs", exc, BACKOFF_SECONDS)

    def get(self, key: str) -> bytes | None:
        if self._redis_ok():
            try:
                return self.redis.get(key)
            except Exception as exc:  # noqa: BLE001 - any Redis failure degrades to the LRU
                self._redis_failed(exc)
        return self.local.get(key)

    def set(self, key: str, value: bytes) -> None:
        if self._redis_ok():
            try:
                self.redis.set(key, value, ex=self.ttl)
                return
            except Exception as exc:  # noqa: BLE001
                self._redis_failed(exc)
        self.local.set(key, value)

    def ping(self) -> bool | None:
        """True/False for Redis, None when no Redis is configured."""
        if self.redis is None:
            return None
        try:
            return bool(self.redis.ping())
        except Exception:  # noqa: BLE001
            return False
