"""``python -m serving [--host H] [--port P]``: the API on uvicorn (what the serving image runs)."""

import argparse
import os
import sys

# glibc gives each thread of the server's pool its own malloc arena, and each arena keeps what
# curve computations freed: resident memory then creeps up by hundreds of MB under steady load.
# Two arenas keep it flat (RELIABILITY.md). glibc reads the variable when the process starts, so
# the process restarts itself once with it set (same PID), unless it is set already.
ARENA_LIMIT = "2"


def _with_arena_limit() -> None:
    if "MALLOC_ARENA_MAX" not in os.environ and sys.platform == "linux":
        os.environ["MALLOC_ARENA_MAX"] = ARENA_LIMIT
        os.execv(sys.executable, [sys.executable, "-m", "serving", *sys.argv[1:]])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m serving", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    _with_arena_limit()
    import uvicorn

    uvicorn.run("serving.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers)


if __name__ == "__main__":
    main()
