"""Limits: on what a request may carry (checked before routing: this API answers short GETs),
and on how much curve computation runs at once.

Without the first, a client could send a megabyte-long URL, a hundred kilobytes of headers or a
body nobody reads, and the server would parse and carry all of it; each limit answers with a
JSON error that says which limit was hit, and nothing behind it runs. Without the second, a
burst of the largest curves would have every thread of the server's pool hold its draws at once.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Iterator
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_URL_BYTES = 2048  # path and query; a predict-price URL with every parameter is under 200
MAX_HEADER_BYTES = 16 * 1024  # all names and values together
MAX_BODY_BYTES = 0  # every endpoint is a GET


class RequestLimits:
    """Pure ASGI middleware (no body buffering, no thread hop)."""

    def __init__(
        self,
        app: ASGIApp,
        max_url_bytes: int = MAX_URL_BYTES,
        max_header_bytes: int = MAX_HEADER_BYTES,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self.max_url_bytes, self.max_header_bytes, self.max_body_bytes = max_url_bytes, max_header_bytes, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = self.problem(scope) if scope["type"] == "http" else None
        if problem is None:
            await self.app(scope, receive, send)
            return
        status, message = problem
        await JSONResponse({"detail": message}, status_code=status)(scope, receive, send)

    def problem(self, scope: dict[str, Any]) -> tuple[int, str] | None:
        """(status, message) for the first limit the request exceeds, or None."""
        url = len(scope.get("raw_path") or scope["path"].encode()) + len(scope.get("query_string", b""))
        if url > self.max_url_bytes:
            return 414, f"the request URL is {url} bytes long; the limit is {self.max_url_bytes}"
        headers = dict(scope["headers"])
        header_bytes = sum(len(name) + len(value) for name, value in scope["headers"])
        if header_bytes > self.max_header_bytes:
            return 431, f"the request headers are {header_bytes} bytes; the limit is {self.max_header_bytes}"
        length = headers.get(b"content-length", b"0")
        if b"transfer-encoding" in headers or not length.isdigit() or int(length) > self.max_body_bytes:
            return 413, "this API takes no request body: send the parameters in the URL"
        return None


class ComputeBudget:
    """Cells (elasticity draws x list prices) being computed at once, across requests, first come first served.

    Memory of a curve computation is proportional to its cells: a 1000-price curve with 400 draws
    holds about 16 MB while it is computed, a 100-price one a tenth of that; a model's forecast of the
    bundled week is two rows whatever the curve. The budget lets many small curves run side by side
    and a few large ones; a request larger than the whole budget runs alone. Waiting is in arrival
    order, so a large request is not starved by a stream of small ones. Computing is CPU-bound, so
    queueing costs no throughput.
    """

    def __init__(self, cells: int) -> None:
        self.capacity = cells
        self.free = cells
        self._changed = threading.Condition()
        self._queue: deque[object] = deque()

    @contextlib.contextmanager
    def reserve(self, cells: int) -> Iterator[None]:
        need = min(cells, self.capacity)
        ticket = object()
        with self._changed:
            self._queue.append(ticket)
            self._changed.wait_for(lambda: self._queue[0] is ticket and self.free >= need)
            self._queue.popleft()
            self.free -= need
            self._changed.notify_all()  # the next in line may fit too
        try:
            yield
        finally:
            with self._changed:
                self.free += need
                self._changed.notify_all()
