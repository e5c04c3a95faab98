"""Summarise a py-spy ``--format raw`` profile (``api_load.py --profile``): where the server's CPU goes.

Prints the share of samples spent in each function itself (self), the share of samples under each
of a few well-known layers (inclusive: uvicorn/HTTP parsing, FastAPI and Pydantic, SQLAlchemy,
the driver, Helpline's own code), and the heaviest Helpline frames.

    .venv/bin/python bench/profile_summary.py var/bench/profile-postgresql-ticket_get.txt
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

LAYERS = {
    "uvicorn+h11/httptools": re.compile(r"uvicorn/|h11/|httptools"),
    "starlette": re.compile(r"starlette/"),
    "fastapi (routing, deps, validation)": re.compile(r"fastapi/"),
    "pydantic": re.compile(r"pydantic"),
    "sqlalchemy": re.compile(r"sqlalchemy/"),
    "sqlalchemy sql compile": re.compile(r"sqlalchemy/sql/compiler|_compiler_dispatch|_compile_w_cache"),
    "asyncpg": re.compile(r"asyncpg/"),
    "aiosqlite/sqlite3": re.compile(r"aiosqlite/|sqlite3"),
    "asyncio event loop": re.compile(r"asyncio/|uvloop"),
    "orjson/json": re.compile(r"orjson|json/"),
    "helpline": re.compile(r"helpline/"),
}


PACKAGE = re.compile(r"\((?:.*site-packages/)?([A-Za-z_]+)[/.]")


def package(frame: str) -> str:
    """The package of a py-spy frame like ``execute (sqlalchemy/engine/base.py:1450)``."""
    if "(<frozen" in frame:
        return "importlib"
    m = PACKAGE.search(frame)
    return m.group(1) if m else frame


def parse(path: str, within: re.Pattern[str] | None) -> tuple[Counter[str], Counter[str], Counter[str], int]:
    own: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip().rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = stack.split(";")
            if frames and frames[0].startswith("process "):
                frames = frames[1:]
            if within is not None and not any(within.search(fr) for fr in frames):
                continue
            total += n
            if frames:
                own[frames[-1]] += n
                packages[package(frames[-1])] += n
            for name, pattern in LAYERS.items():
                if any(pattern.search(fr) for fr in frames):
                    layers[name] += n
    return own, layers, packages, total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("profile", nargs="+")
    p.add_argument("--top", type=int, default=15)
    p.add_argument(
        "--within", help="only samples with a frame matching this regex (e.g. fastapi/applications)"
    )
    a = p.parse_args()
    within = re.compile(a.within) if a.within else None
    for path in a.profile:
        own, layers, packages, total = parse(path, within)
        if not total:
            print(f"{path}: no samples")
            continue
        print(f"== {path}: {total} samples")
        print("  inclusive share by layer:")
        for name, n in layers.most_common():
            print(f"    {100 * n / total:5.1f}%  {name}")
        print("  self time by package (where the CPU is actually spent):")
        for name, n in packages.most_common(12):
            print(f"    {100 * n / total:5.1f}%  {name}")
        print("  self time, top functions:")
        for frame, n in own.most_common(a.top):
            print(f"    {100 * n / total:5.1f}%  {frame[:150]}")


if __name__ == "__main__":
    main()
