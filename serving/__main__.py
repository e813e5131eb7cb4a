"""``python -m serving [--host H] [--port P]``: the API on uvicorn (what the serving image runs)."""

import argparse
import os
import sys

# glibc's malloc, tuned for this server (RELIABILITY.md, "Load"): every thread of the server's
# pool may compute a curve, and by default glibc (a) gives threads their own arenas and (b) after
# the first large block is freed, raises its mmap threshold so later curves' draw matrices (several
# MB: elasticity draws x list prices) come from those arenas, which keep them once freed. Resident
# memory then creeps up under steady load and by a matrix per thread in a burst. Two arenas and a
# fixed 128 kB threshold (large blocks are mapped and unmapped, so freed means returned) keep it
# flat. glibc reads these when the process starts, so the process restarts itself once with them
# set (same PID).
MALLOC_TUNING = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "131072"}


# An idle keep-alive connection is closed after this long. It must outlast the idle timeout of
# whatever sits in front (60 s on an AWS load balancer) and the clients' own (5 s for httpx):
# with uvicorn's default of 5 s, a client reusing a connection just as the server closes it gets
# a reset instead of an answer (seen under the load test).
KEEP_ALIVE_SECONDS = 75


def _with_malloc_tuning() -> None:
    missing = {name: value for name, value in MALLOC_TUNING.items() if name not in os.environ}
    if missing and sys.platform == "linux":
        os.environ.update(missing)
        os.execv(sys.executable, [sys.executable, "-m", "serving", *sys.argv[1:]])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m serving", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    _with_malloc_tuning()
    import uvicorn

    uvicorn.run(
        "serving.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


if __name__ == "__main__":
    main()
