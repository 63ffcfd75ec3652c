"""Every shell block marked ```sh tested in README.md and in each docs/*.md page runs, in
order, in one scratch folder per file with its own store, and succeeds (a block may state
`# expect exit N` for an error example). The MkDocs site builds with --strict."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = re.compile(r"^```sh tested\n(.*?)^```", re.S | re.M)
_EXPECT = re.compile(r"#\s*expect exit (\d+)")
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def shell_blocks(path: Path) -> list[str]:
    return _BLOCK.findall(path.read_text(encoding="utf-8"))


def readme_blocks() -> list[str]:
    return shell_blocks(ROOT / "README.md")


def test_readme_has_tested_commands() -> None:
    assert len(readme_blocks()) >= 5


def test_docs_have_tested_commands() -> None:
    # The README's reference moved to docs/: its examples must have stayed tested there.
    per_page = {path.name: len(shell_blocks(path)) for path in DOC_FILES[1:]}
    for page in ("measuring.md", "conversion.md", "cards.md", "lineage.md", "store.md", "cli.md"):
        assert per_page.get(page, 0) >= 1, f"docs/{page} has no ```sh tested block"
    assert sum(per_page.values()) >= 10


def test_readme_keeps_the_two_setup_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M)
    commands = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()
                if line.startswith("make ")]
    assert commands == ["make demo", "make test"]


def test_readme_is_a_front_page_that_links_every_docs_page() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 190, "the README is a front page: move reference text to docs/"
    for page in DOC_FILES[1:]:
        if page.name != "index.md":
            assert f"(docs/{page.name}" in text, f"README.md does not link docs/{page.name}"
    assert "(docs/dashboard.png)" in text and (ROOT / "docs" / "dashboard.png").is_file()


def test_every_docs_page_is_in_the_site_navigation() -> None:
    import yaml

    def pages(node: object) -> list[str]:
        if isinstance(node, str):
            return [node]
        values = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
        return [page for value in values for page in pages(value)]

    nav = set(pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"]))
    on_disk = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")}
    assert on_disk == nav


@pytest.mark.parametrize("path", [p for p in DOC_FILES if shell_blocks(p)], ids=lambda p: str(p.relative_to(ROOT)))
def test_doc_commands_run(path: Path, tmp_path: Path) -> None:
    blocks = shell_blocks(path)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DIA_DATABASE_URL": f"sqlite:///{tmp_path}/readme.sqlite", "HF_HUB_OFFLINE": "1",
           "DIA_README_ROOT": str(ROOT), "COLUMNS": "160"}
    for block in blocks:
        expected = int(m.group(1)) if (m := _EXPECT.search(block)) else 0
        proc = subprocess.run(["bash", "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == expected, f"{path.name} block failed:\n{block}\n--- stdout\n{proc.stdout[-2000:]}\n--- stderr\n{proc.stderr[-2000:]}"
        if expected:
            assert "Traceback" not in proc.stderr and proc.stderr.strip(), block


def test_docs_site_builds_strictly(tmp_path: Path) -> None:
    for module in ("mkdocs", "material", "mkdocstrings_handlers.python"):
        if importlib.util.find_spec(module.split(".")[0]) is None or importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install -e '.[dev]')")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stderr[-4000:]
    for page in ("index.html", "measuring/index.html", "api/dia/index.html", "api/errors/index.html"):
        assert (tmp_path / "site" / page).is_file(), page
    # The API pages are generated from the docstrings, not left empty.
    assert "LineageCycleError" in (tmp_path / "site" / "api" / "errors" / "index.html").read_text(encoding="utf-8")


def test_the_readme_states_every_methodology_convention() -> None:
    from dia import methodology

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert methodology.markdown_list() in text, "README.md: paste dia.methodology.markdown_list() into ## Methodology"
    for convention in methodology.CONVENTIONS:
        assert convention.name and convention.source and convention.sentence and convention.default
