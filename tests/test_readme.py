"""Every README shell block marked ```sh tested runs, in order, in one scratch folder with
its own store, and succeeds (a block may state `# expect exit N` for an error example)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = re.compile(r"^```sh tested\n(.*?)^```", re.S | re.M)
_EXPECT = re.compile(r"#\s*expect exit (\d+)")


def readme_blocks() -> list[str]:
    return _BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))


def test_readme_has_tested_commands() -> None:
    assert len(readme_blocks()) >= 5


def test_readme_commands_run(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DIA_DATABASE_URL": f"sqlite:///{tmp_path}/readme.sqlite", "HF_HUB_OFFLINE": "1",
           "DIA_README_ROOT": str(ROOT), "COLUMNS": "160"}
    for block in readme_blocks():
        expected = int(m.group(1)) if (m := _EXPECT.search(block)) else 0
        proc = subprocess.run(["bash", "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == expected, f"README block failed:\n{block}\n--- stdout\n{proc.stdout[-2000:]}\n--- stderr\n{proc.stderr[-2000:]}"
        if expected:
            assert "Traceback" not in proc.stderr and proc.stderr.strip(), block
