"""The docs site as Quarto would render it, for machines without Quarto (offline here; `nbdev_docs` wherever Quarto exists).

The notebooks are committed with their outputs, as nbdev expects (`nbdev_clean` strips only metadata): a page shows the
results its notebook was last run to, here and through `nbdev_docs` alike, and building the docs runs nothing.

1. **Check** that every notebook's outputs come from its code as committed: `--refresh` stores in each notebook the digest of
   its code cells beside the outputs it runs them to, and a notebook whose code changed since fails the build, named, with the
   command that refreshes it. (A change in another chapter's code that changes this one's results is not seen: refresh it.)
2. **Process** the notebooks with nbdev's own `proc_nbs` (show_doc rendered, `#| hide` and export cells removed, links to the
   API added): `_proc/`, exactly what `nbdev_docs` hands to Quarto.
3. **Render** each processed notebook to `_docs/<output-file>` with Pandoc (Debian's `pandoc`, the converter Quarto is built on),
   honouring the cell options nbdev relies on (`echo`, `output` including `asis`, `include`, `eval`), the front matter as the
   page's title and description, a sidebar in the order of `sidebar.yml`, and `chapters.html` listing every page.

`python .ci/docs_site.py --refresh [NOTEBOOK ...]` runs notebooks in a kernel (nbclient) and stores their outputs: a chapter
runs the cells `nbdev_test` runs (cells tagged with a `tst_flags` flag such as `slow` are left unrun, and the page says so); a
tutorial runs end to end except `gpu`/`api` cells; then it runs `nbdev_clean`. Commit them. `python .ci/docs_site.py` builds the site;
`render_notebook` renders one notebook (the tests render small ones of their own).
"""
import argparse
import base64
import hashlib
import html
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).with_name("page.html")
STYLE = Path(__file__).with_name("site.css")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
DIRECTIVE = re.compile(r"^\s*#\|\s*(.*?)\s*$")
TUTORIAL_SKIPS = {"gpu", "api", "notest"}   # a tutorial runs end to end, slow cells included: its results are the point


def cell_options(source:str   # a code cell's source
                ) -> tuple[dict, str]:
    "The cell's `#|` options (`{'echo': 'false', 'slow': ''}`) and its source without those lines, as Quarto shows it."
    lines, options = source.splitlines(), {}
    while lines and (found := DIRECTIVE.match(lines[0])):
        name, value = (re.split(r":\s*|\s+", found.group(1), maxsplit=1) + [""])[:2]   # `echo: false`, `default_exp core`, `slow`
        options[name] = value.strip()
        lines.pop(0)
    return options, "\n".join(lines).strip("\n")


def skipped(cell, skips:set) -> str|None:
    "The flag that keeps a code cell from running for the docs (a `tst_flags` flag, or `eval: false`), or None."
    options, _ = cell_options(cell.source)
    if options.get("eval") == "false": return "eval: false"
    return next((flag for flag in options if flag in skips), None)


def run_notebook(source:Path,   # a notebook in nbs/
                 target:Path,   # where the executed copy goes (outputs stored)
                 skips:set,     # flags whose cells are not run
                 timeout=900):
    "Execute a notebook in its own folder, as a reader would, the cells carrying a flag in `skips` left unrun (and marked so)."
    from nbclient import NotebookClient
    notebook = nbformat.read(source, as_version=4)
    kept = {}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and (flag := skipped(cell, skips)):
            kept[index] = cell.source
            cell.source, cell.metadata["llm_distill_unrun"] = "", flag
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(source.parent)}})
    started = time.time()
    client.execute()
    for index, text in kept.items(): notebook.cells[index].source = text
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)
    return time.time() - started


STAMP = "llm_distill_outputs"   # notebook metadata (settings.ini allows it): the digest of the code its outputs came from


def code_digest(notebook) -> str:
    "A digest of a notebook's code cells as written: the code its outputs belong to."
    code = "\n\x00".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    return hashlib.sha256(code.encode()).hexdigest()[:16]


def refresh(source:Path,   # a notebook in nbs/, run in place
            skips:set,     # flags whose cells are not run
           ) -> float:
    "Run a notebook and store its outputs in it, with the digest of the code they came from (run `nbdev_clean` after)."
    seconds = run_notebook(source, source, skips)
    notebook = nbformat.read(source, as_version=4)
    for cell in notebook.cells:
        cell.metadata.pop("llm_distill_unrun", None)
        if cell.cell_type == "code":   # a progress bar's widget is live state, not a result: no page can show it
            cell.outputs = [o for o in cell.outputs if "application/vnd.jupyter.widget-view+json" not in o.get("data", {})]
    notebook.metadata.pop("widgets", None)
    notebook.metadata[STAMP] = code_digest(notebook)
    nbformat.write(notebook, source)
    return seconds


def refresh_command(entries:list) -> str:
    "The command that refreshes these notebooks, with this Python (the project's environment, where nbdev and the kernel are)."
    python = Path(sys.executable)
    shown = python.relative_to(ROOT) if python.is_relative_to(ROOT) else python
    return f"{shown} .ci/docs_site.py --refresh {' '.join('nbs/' + entry for entry in entries)}"


def stale(nbs:Path, entries:list) -> list[str]:
    "The notebooks whose outputs were not made from their code as it is (never refreshed, or edited since)."
    return [entry for entry in entries if (nb := nbformat.read(nbs / entry, as_version=4)).metadata.get(STAMP) != code_digest(nb)]


def mark_unrun(source:Path, target:Path, skips:set):
    "Copy a notebook, its outputs as committed, each cell that is never run for the docs marked so (the page says why)."
    notebook = nbformat.read(source, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code" and (flag := skipped(cell, skips)): cell.metadata["llm_distill_unrun"] = flag
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)


def fence(text:str, info:str="") -> str:
    "A fenced block holding `text` verbatim: the fence longer than any run of backticks inside it."
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{text}\n{ticks}"


def output_markdown(output, asis:bool, figure:callable) -> str:
    "One cell output as Pandoc markdown: Markdown as Markdown, HTML as raw HTML, a figure as an image file, text verbatim."
    kind = output.get("output_type")
    if kind == "stream" and asis: return ANSI.sub("", output.get("text", ""))   # `output: asis`: printed Markdown is Markdown
    if kind == "stream":
        return fence(ANSI.sub("", output.get("text", "")).rstrip("\n"), " {.cell-output-" + output.get("name", "stdout") + "}")
    if kind == "error":
        return fence(ANSI.sub("", "\n".join(output.get("traceback", []))), " {.cell-output-error}")
    data = output.get("data", {})
    if "text/markdown" in data: return "".join(data["text/markdown"]) if asis else f"::: {{.cell-output-markdown}}\n{''.join(data['text/markdown'])}\n:::"
    if "image/png" in data: return f"![{figure(base64.b64decode(data['image/png']))}]({figure.last})"
    if "image/svg+xml" in data: return fence("".join(data["image/svg+xml"]), "{=html}")
    if "text/html" in data: return fence("".join(data["text/html"]), "{=html}")
    if "text/plain" in data: return fence("".join(data["text/plain"]), " {.cell-output-result}")
    return ""


class Figures:
    "Writes a page's figures beside it (`figures/<page>-<n>.png`) and names each."
    def __init__(self, folder:Path, page:str):
        self.folder, self.page, self.count, self.last = folder, page, 0, ""
    def __call__(self, png:bytes) -> str:
        self.count += 1
        name = f"figures/{self.page}-{self.count}.png"
        (self.folder / "figures").mkdir(parents=True, exist_ok=True)
        (self.folder / name).write_bytes(png)
        self.last = name
        return f"Figure {self.count}"


def cell_markdown(cell, figures:Figures) -> str:
    "A processed cell as Pandoc markdown, its options honoured as Quarto honours them."
    if cell.cell_type == "markdown": return cell.source
    if cell.cell_type == "raw": return ""
    options, source = cell_options(cell.source)
    if options.get("include") == "false": return ""
    parts = []
    if options.get("echo") != "false" and source.strip(): parts.append(fence(source, "python"))
    if flag := cell.metadata.get("llm_distill_unrun"):
        parts.append(f"::: {{.cell-note}}\nNot run when the docs are built (`{flag}`): run the notebook to see its result.\n:::")
    elif options.get("output") != "false":
        asis = options.get("output") == "asis"
        shown = [output_markdown(o, asis, figures) for o in cell.get("outputs", [])]
        shown = [s for s in shown if s.strip()]
        if shown and not asis: parts.append("::: {.cell-output}\n" + "\n\n".join(shown) + "\n:::")
        elif shown: parts.extend(shown)
    return "\n\n".join(parts)


def front_matter(notebook) -> dict:
    "The page's front matter (title, description, output-file), from nbdev's raw first cell."
    first = notebook.cells[0] if notebook.cells else None
    if first is not None and first.cell_type == "raw" and first.source.lstrip().startswith("---"):
        return yaml.safe_load(first.source.strip().strip("-")) or {}
    return {}


def output_path(notebook_path:Path, proc_root:Path, notebook) -> Path:
    "Where the page goes under the site, as Quarto names it: the front matter's `output-file` in the notebook's folder."
    relative = notebook_path.relative_to(proc_root)
    return relative.parent / front_matter(notebook).get("output-file", relative.with_suffix(".html").name)


def render_notebook(notebook_path:Path,  # a processed notebook (in `_proc/`)
                    proc_root:Path,      # the processed notebooks' folder
                    site:Path,           # the site's folder
                    sidebar:str="",      # the sidebar's HTML, links relative to the site's root
                    kind:str="chapter",  # chapter, tutorial, guide or index: what the page checks expect of it
                    doc_url:str=""       # the docs' published address, whose links become relative ones
                   ) -> Path:
    "Render one processed notebook to an HTML page with Pandoc."
    notebook = nbformat.read(notebook_path, as_version=4)
    page = output_path(notebook_path, proc_root, notebook)
    root = "../" * len(page.parent.parts)
    meta = front_matter(notebook)
    figures = Figures(site / page.parent, page.stem)
    body = "\n\n".join(filter(None, (cell_markdown(c, figures) for c in notebook.cells)))
    if doc_url: body = body.replace(doc_url.rstrip("/") + "/", root)
    header = yaml.safe_dump({k: v for k, v in meta.items() if k in ("title", "description")} or {"title": page.stem}, allow_unicode=True)
    document = f"---\n{header}---\n\n{body}\n"
    target = site / page
    target.parent.mkdir(parents=True, exist_ok=True)
    pandoc(document, target, root=root, sidebar=sidebar.replace('href="', f'href="{root}'), kind=kind)
    return target


def pandoc(document:str, target:Path, **variables):
    "Pandoc markdown to a standalone HTML page through the site's template."
    arguments = ["pandoc", "--from", "markdown", "--to", "html5", "--standalone", "--toc", "--toc-depth=3",
                 f"--template={TEMPLATE}", "--highlight-style=pygments", "--output", str(target)]
    arguments += [f"--variable={name}:{value}" for name, value in variables.items()]
    done = subprocess.run(arguments, input=document, text=True, capture_output=True)
    if done.returncode != 0: raise SystemExit(f"pandoc failed on {target.name}: {done.stderr.strip()}")


def sidebar_entries(sidebar_yml:Path) -> list[tuple[str, str]]:
    "The notebooks of `sidebar.yml` in reading order, each with its section ('' at the top level)."
    def walk(contents, section):
        for entry in contents:
            if isinstance(entry, str) and entry.endswith(".ipynb"): yield section, entry
            elif isinstance(entry, dict) and "contents" in entry: yield from walk(entry["contents"], entry.get("section", ""))
    return list(walk(yaml.safe_load(sidebar_yml.read_text())["website"]["sidebar"]["contents"], ""))


def kind_of(entry:str) -> str:
    "What a page is, from its notebook's place: index, tutorial, guide or chapter."
    if entry == "index.ipynb": return "index"
    return {"tutorials": "tutorial", "guides": "guide"}.get(Path(entry).parts[0], "chapter")


def skips_of(entry:str, flags:set) -> set:
    "The flags whose cells a notebook leaves unrun: a tutorial runs end to end but for GPU and API cells; a chapter, as nbdev_test."
    return TUTORIAL_SKIPS if kind_of(entry) == "tutorial" else flags


def refresh_all(names:list, nbs:Path=ROOT / "nbs", workers:int=2):
    "Run the named notebooks (all of the sidebar when none), two at a time, storing their outputs."
    from nbdev.config import get_config
    flags = set(get_config().tst_flags.split())
    def run(entry):
        print(f"  ran {entry}: {refresh(nbs / entry, skips_of(entry, flags)):.0f} s", flush=True)
    with ThreadPoolExecutor(workers) as pool: list(pool.map(run, names))


def build(nbs:Path=ROOT / "nbs", out:Path=ROOT / "_docs") -> list[Path]:
    "Check, process and render every notebook of the sidebar, with the outputs committed; `chapters.html` lists them. Returns the pages."
    from nbdev.config import get_config
    from nbdev.quarto import nbdev_sidebar, proc_nbs
    config = get_config()
    flags = set(config.tst_flags.split())
    nbdev_sidebar(path=str(nbs), force=True)   # nbdev's own sidebar.yml: every notebook, folders as sections (custom_sidebar = False)
    entries = sidebar_entries(nbs / "sidebar.yml")
    executed = ROOT / "_executed"
    if executed.exists(): shutil.rmtree(executed)   # ours alone (.gitignore'd), rebuilt every time
    for name in ("_quarto.yml", "nbdev.yml", "sidebar.yml", "styles.css"):
        if (nbs / name).exists(): (executed / name).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(nbs / name, executed / name)

    if old := stale(nbs, [entry for _, entry in entries]):
        raise SystemExit(f"FAIL: the outputs of {len(old)} notebook(s) do not come from their code as it is now: {old}; run "
                         f"`{refresh_command(old)}` (it runs them and then nbdev_clean), and commit them")
    for _, entry in entries: mark_unrun(nbs / entry, executed / entry, skips_of(entry, flags))
    proc = proc_nbs(path=str(executed), force=True)
    if out.exists(): shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy2(STYLE, out / "site.css")
    if (nbs / "styles.css").exists(): (out / "site.css").write_text(STYLE.read_text() + "\n" + (nbs / "styles.css").read_text())
    pages = [(section, entry, nbformat.read(proc / entry, as_version=4)) for section, entry in entries]
    sidebar = sidebar_html([(section, output_path(proc / entry, proc, nb), front_matter(nb).get("title") or Path(entry).stem)
                            for section, entry, nb in pages])
    url = f"{config.doc_host.rstrip('/')}{config.doc_baseurl}"
    written = [render_notebook(proc / entry, proc, out, sidebar, kind_of(entry), url) for _, entry, _ in pages]
    written.append(chapters_page(pages, proc, out, sidebar))
    return written


def sidebar_html(items:list) -> str:
    "The sidebar: every page in reading order under its section, and the chapter list."
    parts, current = ['<a class="site-title" href="index.html">llm_distill</a><ul>'], ""
    for section, page, title in items:
        if section != current:
            parts.append(f'</ul><p class="sidebar-section">{html.escape(section.title())}</p><ul>')
            current = section
        parts.append(f'<li><a href="{html.escape(page.as_posix())}">{html.escape(title)}</a></li>')
    parts.append('</ul><p class="sidebar-section"><a href="chapters.html">All chapters</a></p>')
    return "".join(parts)


def chapters_page(pages:list, proc:Path, out:Path, sidebar:str) -> Path:
    "`chapters.html`: every page in reading order with its title and one-line description."
    rows = []
    for number, (section, entry, notebook) in enumerate(pages):
        meta, page = front_matter(notebook), output_path(proc / entry, proc, notebook)
        title = html.escape(meta.get("title") or Path(entry).stem)
        rows.append(f'<li class="chapter"><a href="{html.escape(page.as_posix())}">{title}</a>'
                    f'<span class="source">{html.escape(entry)}</span><br>{html.escape(meta.get("description", ""))}</li>')
    document = ("---\ntitle: 'The chapters, in reading order'\ndescription: 'Each notebook is a chapter: read it here, run it in Jupyter.'\n---\n\n"
                + fence('<ol class="chapters">' + "\n".join(rows) + "</ol>", "{=html}") + "\n")
    pandoc(document, out / "chapters.html", root="", sidebar=sidebar, kind="list")
    return out / "chapters.html"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "_docs"))
    parser.add_argument("--workers", type=int, default=2, help="notebooks run at once by --refresh")
    parser.add_argument("--refresh", nargs="*", metavar="NOTEBOOK", help="run these notebooks (paths under nbs/; none: all) and store their outputs")
    arguments = parser.parse_args()
    os.chdir(ROOT)
    if arguments.refresh is not None:
        from nbdev.quarto import nbdev_sidebar
        nbdev_sidebar(path=str(ROOT / "nbs"), force=True)
        names = [str(Path(n).resolve().relative_to(ROOT / "nbs")) if Path(n).exists() else n for n in arguments.refresh]
        refresh_all(names or [entry for _, entry in sidebar_entries(ROOT / "nbs" / "sidebar.yml")], workers=arguments.workers)
        raise SystemExit(subprocess.call([str(Path(sys.executable).parent / "nbdev_clean")]))
    pages = build(out=Path(arguments.out))
    print(f"docs: {len(pages)} pages in {arguments.out}/, listed in reading order in chapters.html")
