"The offline docs site (`.ci/docs_site.py`): cell options honoured as Quarto honours them, and a site check (`browser.check_site`) that fails on each defect a reader would see."
import base64
import importlib.util
import io
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

from browser import CHROMIUM, REQUIRED, check_site

spec = importlib.util.spec_from_file_location("docs_site", Path(__file__).parent.parent / ".ci" / "docs_site.py")
docs_site = importlib.util.module_from_spec(spec); spec.loader.exec_module(docs_site)
needs_tools = pytest.mark.skipif((CHROMIUM is None or shutil.which("pandoc") is None) and not REQUIRED,
                                 reason="no Chromium or Pandoc here (CI installs Debian's chromium and pandoc)")

SHOW_DOC = ('---\n\n[source](https://github.com/x/y/blob/main/y/core.py#L1){target="_blank" style="float:right; font-size:smaller"}\n\n'
            '### add\n\n```python\ndef add(\n    a:int, # the first\n)->int:\n```\n\n*Add one to `a`.*')


def front(title, description="One line that says what the page is.", output_file=None):
    text = f"---\ndescription: '{description}'\n" + (f"output-file: {output_file}\n" if output_file else "") + f"title: '{title}'\n\n---\n"
    return new_raw_cell(text)


def png() -> str:
    from PIL import Image
    buffer = io.BytesIO(); Image.new("RGB", (40, 30), (30, 120, 200)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def table(rows=3) -> str:
    return "<table class='dataframe'><thead><tr><th>a</th><th>b</th></tr></thead><tbody>" + "".join(f"<tr><td>{i}</td><td>{i * i}</td></tr>" for i in range(rows)) + "</tbody></table>"


def notebooks(proc: Path):
    "Three processed notebooks as nbdev writes them: a home page, an API chapter with a show_doc and a lesson, a tutorial with tables and a figure."
    cells = {
        "index.ipynb": [front("toy"), new_markdown_cell("## Install\n\nRun the notebooks. " + "Some words to read. " * 20),
                        new_code_cell("print('hello')", outputs=[new_output("stream", name="stdout", text="hello\n")])],
        "00_core.ipynb": [front("core", output_file="core.html"), new_markdown_cell("## Adding\n\n" + "Why one adds. " * 20),
                          new_code_cell("#| echo: false\n#| output: asis\nshow_doc(add)",
                                        outputs=[new_output("execute_result", data={"text/markdown": SHOW_DOC, "text/plain": "<x>"}, execution_count=1)]),
                          new_code_cell("#| include: false\nsecret = 1", outputs=[new_output("stream", name="stdout", text="not shown\n")]),
                          new_code_cell("test_eq(add(1), 2)\nadd(41)", outputs=[new_output("execute_result", data={"text/plain": "42"}, execution_count=2)])],
        "tutorials/01_walk.ipynb": [front("A walk through it", output_file="walk.html"), new_markdown_cell("## Results\n\n" + "What we found. " * 20),
                                    new_code_cell("frame", outputs=[new_output("execute_result", data={"text/html": table(), "text/plain": "frame"}, execution_count=1)]),
                                    new_code_cell("other", outputs=[new_output("display_data", data={"text/html": table(2), "text/plain": "other"})]),
                                    new_code_cell("plot()", outputs=[new_output("display_data", data={"image/png": png(), "text/plain": "<Figure>"})])],
    }
    for name, cell_list in cells.items():
        (proc / name).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(new_notebook(cells=cell_list), proc / name)
    return list(cells)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("docs")
    proc, out = root / "_proc", root / "_docs"
    names = notebooks(proc)
    out.mkdir(); shutil.copy2(docs_site.STYLE, out / "site.css")
    pages = [("" if "/" not in n else "tutorials", n, nbformat.read(proc / n, as_version=4)) for n in names]
    sidebar = docs_site.sidebar_html([(s, docs_site.output_path(proc / n, proc, nb), docs_site.front_matter(nb)["title"]) for s, n, nb in pages])
    for _, name, _ in pages: docs_site.render_notebook(proc / name, proc, out, sidebar, docs_site.kind_of(name), "https://x.github.io/y")
    docs_site.chapters_page(pages, proc, out, sidebar)
    return out


def test_cell_options_are_read_and_removed_as_quarto_does():
    options, source = docs_site.cell_options("#| echo: false\n#|output: asis\n#| slow\nshow_doc(f)\n# a comment")
    assert options == {"echo": "false", "output": "asis", "slow": ""} and source == "show_doc(f)\n# a comment"
    assert docs_site.cell_markdown(new_code_cell("#| include: false\nx = 1", outputs=[new_output("stream", name="stdout", text="1\n")]), None) == ""
    shown = docs_site.cell_markdown(new_code_cell("#| echo: false\nx", outputs=[new_output("stream", name="stdout", text="```tick\n")]), None)
    assert "x" not in shown.replace("```tick", "") and "````" in shown   # the fence outgrows the backticks inside
    unrun = new_code_cell("#| slow\ntrain()"); unrun.metadata["llm_distill_unrun"] = "slow"
    assert "Not run when the docs are built (`slow`)" in docs_site.cell_markdown(unrun, None) and "#|" not in docs_site.cell_markdown(unrun, None)


@needs_tools
def test_the_rendered_site_passes(site):
    seen = check_site(site, min_pages=4)
    assert set(seen) == {"index.html", "core.html", "tutorials/walk.html", "chapters.html"}
    core = (site / "core.html").read_text()
    assert "show_doc" not in core and "not shown" not in core and "#|" not in core and 'target="_blank"' in core
    assert seen["tutorials/walk.html"]["tables"] >= 2 and seen["tutorials/walk.html"]["figures"] == 1
    assert seen["core.html"]["title"].startswith("core") and seen["chapters.html"]["links"].count("A walk through it") == 2


def planted(site, tmp_path, page, change):
    broken = tmp_path / "site"
    shutil.copytree(site, broken)
    path = broken / page
    path.write_text(change(path.read_text()))
    return broken


@needs_tools
@pytest.mark.parametrize("page, change, message", [
    ("core.html", lambda h: h.replace("<main>", "<main><pre>#| echo: false\nshow_doc(add)</pre>"), "shows cell directives as text"),
    ("core.html", lambda h: h.replace("<main>", "<main><p>---</p><p>description: what it is</p><p>output-file: core.html</p><p>title: core</p>"),
     "shows its front matter as text"),
    ("core.html", lambda h: h.replace("<main>", '<main><p>[source](https://x){target="_blank" style="float:right"}</p>'), "shows attribute markup as text"),
    ("core.html", lambda h: re.sub(r"<title>.*?</title>", "<title></title>", re.sub(r'<h1 class="title">.*?</h1>', "", h)), "has no title"),
    ("chapters.html", lambda h: h.replace(">core</a>", ">---</a>", 1), "lists pages without a title"),
    ("core.html", lambda h: re.sub(r'<div class="cell-output">.*?</div>', "", h, flags=re.S), "shows no lesson output"),
    ("tutorials/walk.html", lambda h: re.sub(r"<table.*?</table>", "", h, flags=re.S), "expected at least 3"),
])
def test_the_check_fails_on_each_planted_defect(site, tmp_path, page, change, message):
    broken = planted(site, tmp_path, page, change)
    with pytest.raises(AssertionError, match=re.escape(message)):
        check_site(broken, min_pages=4)


@needs_tools
def test_too_few_pages_fail(site):
    with pytest.raises(AssertionError, match="expected at least 16"):
        check_site(site)


def test_outputs_are_known_to_come_from_the_code_as_committed(tmp_path):
    "A notebook's outputs carry the digest of its code: code edited since is named stale; prose edited since is not."
    notebook = new_notebook(cells=[new_markdown_cell("Adding."), new_code_cell("1 + 1", outputs=[new_output("execute_result", data={"text/plain": "2"}, execution_count=1)])])
    notebook.metadata[docs_site.STAMP] = docs_site.code_digest(notebook)
    nbformat.write(notebook, tmp_path / "a.ipynb")
    assert docs_site.stale(tmp_path, ["a.ipynb"]) == []
    notebook.cells[0].source = "Adding, with a better explanation."
    nbformat.write(notebook, tmp_path / "a.ipynb")
    assert docs_site.stale(tmp_path, ["a.ipynb"]) == []
    notebook.cells[1].source = "1 + 2"   # the output still says 2
    nbformat.write(notebook, tmp_path / "a.ipynb")
    assert docs_site.stale(tmp_path, ["a.ipynb"]) == ["a.ipynb"]
    del notebook.metadata[docs_site.STAMP]   # never refreshed
    nbformat.write(notebook, tmp_path / "a.ipynb")
    assert docs_site.stale(tmp_path, ["a.ipynb"]) == ["a.ipynb"]
    python, script, flag, path = docs_site.refresh_command(["a.ipynb"]).split()   # the command the build's refusal gives, runnable as written
    assert (docs_site.ROOT / python).exists() and (script, flag, path) == (".ci/docs_site.py", "--refresh", "nbs/a.ipynb")


def test_every_committed_notebook_shows_the_outputs_of_its_code(root):
    "The pages show committed outputs: each notebook was last run with the code it holds (`.ci/docs_site.py --refresh`)."
    names = [str(p.relative_to(root / "nbs")) for p in sorted((root / "nbs").rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts]
    assert len(names) >= 30
    assert docs_site.stale(root / "nbs", names) == [], "run `.venv/bin/python .ci/docs_site.py --refresh nbs/NOTEBOOK` and commit"
