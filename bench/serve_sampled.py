"""``helpline serve --workers 1`` with the stack sampler (``sampler.py``) on the server's event loop
thread, for profiling the real server under load when py-spy is not installed. The profile (py-spy
raw format, CPU-weighted) is written to ``OUT`` when the server stops (SIGTERM / SIGINT); read it
with ``profile_summary.py``. SIGUSR1 starts the profile over (send it after the warm-up). The
environment configures the app as for ``helpline serve``.

    .venv/bin/python bench/serve_sampled.py OUT PORT
"""

from __future__ import annotations

import signal
import sys
import threading

import uvicorn
from sampler import Sampler


def main() -> None:
    out, port = sys.argv[1], int(sys.argv[2])
    # uvicorn handles SIGTERM, then raises it again once shut down: by then this handler is back in
    # place, and exits through the ``finally`` that writes the profile.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sampler = Sampler(threading.main_thread(), out).start()
    # SIGUSR1 forgets what was sampled so far (start-up, warm-up): the caller sends it when the
    # measured part begins.
    signal.signal(signal.SIGUSR1, lambda *_: sampler.stacks.clear())
    try:
        uvicorn.run(
            "helpline.asgi:app",
            host="127.0.0.1",
            port=port,
            log_level="warning",
            proxy_headers=True,
            access_log=False,
        )
    finally:
        sampler.stop()


if __name__ == "__main__":
    main()
