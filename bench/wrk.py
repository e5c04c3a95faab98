"""Drive the API with ``wrk`` (C, one thread) instead of the httpx client, when wrk is installed.

The httpx client costs several times more CPU per request than the server spends on a simple
request, and it runs on the same 2 cores; wrk costs a few microseconds. Requests are taken from a
precomputed list (the same ``Workload`` as the httpx and bare runs), cycled by a Lua script that
also reports wrk's own latency percentiles as JSON.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Callable
from typing import Any

LUA = """
local reqs = {%(reqs)s}
local n, i = #reqs, 0
wrk.headers["Authorization"] = "Bearer %(token)s"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i + 1
  local r = reqs[(i %% n) + 1]
  return wrk.format(r[1], r[2], nil, r[3])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %%d, "duration_us": %%d, "socket_errors": %%d, "non_2xx": %%d,'
    .. ' "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "max_us": %%d}\\n', summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
"""


def _lua_str(s: str) -> str:
    return json.dumps(s)  # a JSON string literal is a valid Lua string literal for our ASCII data


class WrkResult:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.ok = raw["requests"] - raw["non_2xx"]
        self.elapsed = raw["duration_us"] / 1e6

    def summary(self) -> dict[str, Any]:
        r = self.raw
        errors = {k: r[k] for k in ("socket_errors", "non_2xx") if r[k]}
        return {
            "requests": r["requests"],
            "errors": errors or 0,
            "seconds": round(self.elapsed, 2),
            "rps": round(self.ok / self.elapsed, 1),
            "p50_ms": round(r["p50_us"] / 1000, 2),
            "p90_ms": round(r["p90_us"] / 1000, 2),
            "p99_ms": round(r["p99_us"] / 1000, 2),
            "max_ms": round(r["max_us"] / 1000, 2),
        }


async def run_wrk(
    base: str,
    token: str,
    request: Callable[[int], tuple[str, str, Any]],
    *,
    clients: int,
    seconds: float,
    distinct: int = 5000,
) -> WrkResult:
    """``clients`` keep-alive connections for ``seconds``, cycling over ``distinct`` requests."""
    rows = []
    for i in range(distinct):
        method, path, payload = request(i)
        body = _lua_str(json.dumps(payload)) if payload is not None else "nil"
        rows.append(f"{{{_lua_str(method)}, {_lua_str(path)}, {body}}}")
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(LUA % {"reqs": ",\n".join(rows), "token": token})
        script.flush()
        proc = await asyncio.create_subprocess_exec(
            "wrk",
            "-t1",
            f"-c{clients}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "30s",
            "-s",
            script.name,
            base,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
    text = out.decode()
    line = next((ln for ln in text.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {text[-500:]}")
    return WrkResult(json.loads(line.removeprefix("WRKJSON ")))
