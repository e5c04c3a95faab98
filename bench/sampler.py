"""A stack sampler for when py-spy is not installed: a thread that records the stack of one thread
every ``interval`` seconds, weighted by the CPU time that thread used since the previous sample
(its own CPU clock, in microseconds), written in py-spy's ``--format raw`` (collapsed stacks), so
``profile_summary.py`` reads it: shares are shares of the thread's CPU, not of wall time.

cProfile counts every resumption of a coroutine as a call and charges its own overhead (several
times the request's CPU) unevenly, which makes async code hard to read in it; sampling the real
stack does not. The CPU used between two samples is charged to the stack seen at the second one,
so a sample taken while the thread waits in ``epoll`` (frame ``select``) carries the CPU of the
code that ran just before the wait: the shorter the interval, the smaller that share.

    with Sampler(threading.main_thread(), "var/bench/sample.txt"):
        ...  # the code to profile
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import FrameType, TracebackType


def _frame(f: FrameType) -> str:
    code = f.f_code
    path = code.co_filename
    for marker in ("site-packages/", "/src/", "/lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{code.co_name} ({path}:{f.f_lineno})"


class Sampler:
    """Samples ``thread``'s stack until stopped; ``stop()`` writes the collapsed stacks to ``out``."""

    def __init__(self, thread: threading.Thread, out: str | Path, interval: float = 0.0002) -> None:
        self.ident = thread.ident
        self.out, self.interval = Path(out), interval
        self.stacks: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        clock = time.pthread_getcpuclockid(self.ident or 0)
        last = time.clock_gettime_ns(clock)
        while not self._stop.is_set():
            time.sleep(self.interval)
            frame = sys._current_frames().get(self.ident or 0)
            now = time.clock_gettime_ns(clock)
            # Weighted by the CPU the thread used since the last sample (microseconds), so that
            # time spent waiting (for I/O, or for a core on a busy machine) counts for nothing.
            used, last = (now - last) // 1000, now
            names: list[str] = []
            while frame is not None:
                names.append(_frame(frame))
                frame = frame.f_back
            if names and used:
                self.stacks[";".join(reversed(names))] += used

    def start(self) -> Sampler:
        # A thread waiting for the GIL gets it only at the holder's next switch interval (5 ms by
        # default) or when it blocks on I/O: samples would pile up at I/O. A short interval lets
        # the sampler in wherever the code is.
        self._switch = sys.getswitchinterval()
        sys.setswitchinterval(0.0001)
        self._thread.start()
        return self

    def stop(self) -> int:
        """Stop sampling and write the profile; the CPU microseconds sampled."""
        self._stop.set()
        self._thread.join()
        sys.setswitchinterval(self._switch)
        self.out.write_text("".join(f"{stack} {n}\n" for stack, n in self.stacks.most_common()))
        return sum(self.stacks.values())

    def __enter__(self) -> Sampler:
        return self.start()

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()
