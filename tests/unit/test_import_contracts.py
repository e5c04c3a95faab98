"""The import contracts of pyproject.toml catch what they promise to: a domain core importing the web
layer, the tickets domain importing a channel, the platform importing a domain."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(tmp: Path, edit: tuple[str, str] | None) -> subprocess.CompletedProcess[str]:
    shutil.copytree(
        ROOT / "src" / "helpline", tmp / "src" / "helpline", ignore=shutil.ignore_patterns("static")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp / "pyproject.toml")
    if edit is not None:
        path, line = edit
        target = tmp / "src" / "helpline" / path
        target.write_text(line + "\n" + target.read_text())
    return subprocess.run(
        [str(LINT), "--no-cache"],
        cwd=tmp,
        env={"PYTHONPATH": str(tmp / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.skipif(not LINT.exists(), reason="import-linter is a dev dependency")
def test_todays_code_keeps_every_contract(tmp_path: Path) -> None:
    result = _lint(tmp_path, None)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.skipif(not LINT.exists(), reason="import-linter is a dev dependency")
@pytest.mark.parametrize(
    ("path", "line", "contract"),
    [
        ("domains/tickets/service/_common.py", "from helpline.web import deps", "never import the web layer"),
        ("domains/customers/queries.py", "import fastapi", "never import the web layer"),
        (
            "domains/tickets/models.py",
            "import helpline.domains.channels.email.models",
            "never imports a channel",
        ),
        ("platform/jobs.py", "import helpline.domains.tickets.models", "imports no domain"),
    ],
)
def test_a_forbidden_import_breaks_the_check(tmp_path: Path, path: str, line: str, contract: str) -> None:
    result = _lint(tmp_path, (path, line))
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts")[-1]
    assert contract in " ".join(broken.split()), result.stdout[-3000:]
