"""Open HTML pages in headless Chromium (Debian's `chromium`): a screenshot of each, and what the page really shows once
rendered (headings, tables, images that loaded, a Python traceback). `python tests/browser.py PAGE...` checks pages from the
command line (`.ci/docs` runs it over `_docs/`)."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
REQUIRED = os.environ.get("LLM_DISTILL_REQUIRE_BROWSER") == "1"   # CI: a missing browser fails instead of skipping
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--allow-file-access-from-files", "--virtual-time-budget=10000"]

PROBE = r"""<script>
window.addEventListener("load", () => {
  const text = document.body ? document.body.innerText : "";
  const bare = document.body ? document.body.cloneNode(true) : document.createElement("body");   // the prose: code blocks left out
  bare.querySelectorAll("pre, code, script, style").forEach(e => e.remove());
  document.documentElement.appendChild(bare); bare.style.display = "none";
  const prose = bare.textContent; bare.remove();
  const report = {
    headings: [...document.querySelectorAll("h1, h2, h3")].map(h => h.textContent.trim()),
    tables: document.querySelectorAll("table").length,
    images: [...document.images].map(i => ({alt: i.alt, loaded: i.complete && i.naturalWidth > 0})),
    characters: text.length,
    traceback: text.includes("Traceback (most recent call last)"),
    title: document.title.trim(),
    h1: [...document.querySelectorAll("h1")].map(h => h.textContent.trim()),
    kind: document.body ? (document.body.dataset.kind || "") : "",
    directives: text.split("\n").filter(line => /^\s*#\|/.test(line)).slice(0, 5),
    front_matter: /(^|\n)[ \t]*---[ \t]*(\n|description:|title:|output-file:)[\s\S]{0,600}?(output-file|title):\s*\S/.test(text),
    attribute_markup: prose.match(/\{\s*(target|style|width|height|fig-[\w-]+)\s*=[^}]*\}|\{[.#][\w-]+[^}]*\}/g) || [],
    outputs: document.querySelectorAll(".cell-output, .cell-output-stdout, .cell-output-result").length,
    figures: [...document.querySelectorAll("main img")].length,
    links: [...document.querySelectorAll("nav.sidebar a, ol.chapters a")].map(a => a.textContent.trim()),
  };
  const out = document.createElement("pre"); out.id = "llm-distill-probe"; out.textContent = JSON.stringify(report);
  document.body.appendChild(out);
});
</script>"""


def _run(arguments, timeout=120):
    return subprocess.run([CHROMIUM, *FLAGS, *arguments], capture_output=True, text=True, timeout=timeout)


def render(page) -> dict:
    "What Chromium shows of a page after it loaded: headings, table count, images (and whether each loaded), text size, traceback."
    page = Path(page).resolve()
    probe = page.with_name(f".probe-{page.name}")   # beside the page, so its relative image paths resolve
    source = page.read_text(encoding="utf-8")
    probe.write_text(source.replace("</body>", PROBE + "</body>") if "</body>" in source else source + PROBE, encoding="utf-8")
    try: dom = _run(["--dump-dom", probe.as_uri()]).stdout
    finally: probe.unlink()
    found = re.search(r'<pre id="llm-distill-probe">(.*?)</pre>', dom, re.S)
    if not found: raise AssertionError(f"{page.name}: Chromium did not finish loading the page")
    return json.loads(found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))


def screenshot(page, out, width=1280, height=3000) -> Path:
    "A PNG of the page as Chromium draws it."
    out = Path(out).resolve()
    _run([f"--screenshot={out}", f"--window-size={width},{height}", Path(page).resolve().as_uri()])
    if not out.exists(): raise AssertionError(f"{Path(page).name}: Chromium wrote no screenshot")
    return out


def drawn(png) -> bool:
    "Whether a screenshot shows something (not one flat colour)."
    from PIL import Image
    pixels = Image.open(png).convert("L")
    low, high = pixels.getextrema()
    return high - low > 50


def check_page(page, headings=(), figures=(), min_tables=0, shot=None) -> dict:
    "Render a page and fail, naming every problem, on a traceback, an empty body, a broken image, or a missing heading, figure or table."
    seen = render(page)
    problems = []
    if seen["traceback"]: problems.append("shows a Python traceback")
    if seen["characters"] < 200: problems.append(f"is nearly empty ({seen['characters']} characters)")
    if seen["directives"]: problems.append(f"shows cell directives as text: {seen['directives'][:2]}")
    if seen["front_matter"]: problems.append("shows its front matter as text")
    if seen["attribute_markup"]: problems.append(f"shows attribute markup as text: {seen['attribute_markup'][:2]}")
    problems += [f"image {i['alt'] or '(no alt)'!r} did not load" for i in seen["images"] if not i["loaded"]]
    problems += [f"has no heading {h!r}" for h in headings if not any(h in s for s in seen["headings"])]
    loaded = [i["alt"] for i in seen["images"] if i["loaded"]]
    problems += [f"has no figure {f!r}" for f in figures if not any(f in a for a in loaded)]
    if seen["tables"] < min_tables: problems.append(f"has {seen['tables']} tables, expected at least {min_tables}")
    if shot is not None and not drawn(screenshot(page, shot)): problems.append("screenshot is blank")
    if problems: raise AssertionError(f"{Path(page).name}: " + "; ".join(problems))
    return seen


def is_title(text:str) -> bool:
    "Whether a page or link title reads as one: some words, not a rule or a file name."
    return bool(text) and any(c.isalpha() for c in text) and text.strip("-— ") == text.strip() and not text.endswith((".ipynb", ".html"))


def check_site(folder, min_pages=16, min_tutorial_results=3, shots=None) -> dict:
    "Check a built docs site page by page: each passes `check_page`, has a title, a chapter shows its lessons' outputs, a tutorial its tables and figures, and the chapter list names every page."
    folder = Path(folder)
    pages = sorted(p for p in folder.rglob("*.html") if not p.name.startswith("."))
    problems, seen = [], {}
    if len(pages) < min_pages: problems.append(f"has {len(pages)} pages, expected at least {min_pages}")
    for page in pages:
        name = page.relative_to(folder).as_posix()
        try: seen[name] = found = check_page(page, shot=None if shots is None else Path(shots) / (name.removesuffix(".html").replace("/", "--") + ".png"))
        except AssertionError as error: problems.append(str(error)); continue
        mine = []
        if not is_title(found["title"]) or not any(is_title(h) for h in found["h1"]): mine.append(f"has no title (title {found['title']!r}, h1 {found['h1'][:1]})")
        if found["kind"] == "chapter" and found["outputs"] < 1: mine.append("shows no lesson output")
        if found["kind"] == "tutorial" and found["tables"] + found["figures"] < min_tutorial_results:
            mine.append(f"shows {found['tables']} tables and {found['figures']} figures, expected at least {min_tutorial_results} in all")
        untitled = [link for link in found["links"] if not is_title(link)]
        if untitled: mine.append(f"lists pages without a title: {untitled[:3]}")
        if mine: problems.append(f"{name}: " + "; ".join(mine))
    listed = seen.get("chapters.html", {}).get("links", [])
    if "chapters.html" in seen and len([l for l in listed if l != "All chapters"]) < len(pages) - 1:
        problems.append(f"chapters.html lists {len(listed)} links for {len(pages)} pages")
    if problems: raise AssertionError("the docs site: " + " | ".join(problems))
    return seen


if __name__ == "__main__":
    if CHROMIUM is None:
        print("browser check: no Chromium (apt-get install chromium)" + ("; required here" if REQUIRED else "; skipped"))
        sys.exit(1 if REQUIRED else 0)
    shots = Path(os.environ.get("SCREENSHOTS", "_docs/screenshots")); shots.mkdir(parents=True, exist_ok=True)
    if len(sys.argv) == 3 and sys.argv[1] == "--site":   # a whole docs site: `python tests/browser.py --site _docs`
        seen = check_site(sys.argv[2], shots=shots)
        print(f"browser check: {len(seen)} pages of {sys.argv[2]} rendered in {Path(CHROMIUM).name}, screenshots in {shots}/")
        sys.exit(0)
    pages = [Path(p) for p in sys.argv[1:]]
    for page in pages: check_page(page, shot=shots / f"{page.stem}.png")
    print(f"browser check: {len(pages)} pages rendered in {Path(CHROMIUM).name}, screenshots in {shots}/")
