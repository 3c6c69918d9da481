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

PROBE = """<script>
window.addEventListener("load", () => {
  const text = document.body ? document.body.innerText : "";
  const report = {
    headings: [...document.querySelectorAll("h1, h2, h3")].map(h => h.textContent.trim()),
    tables: document.querySelectorAll("table").length,
    images: [...document.images].map(i => ({alt: i.alt, loaded: i.complete && i.naturalWidth > 0})),
    characters: text.length,
    traceback: text.includes("Traceback (most recent call last)"),
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
    problems += [f"image {i['alt'] or '(no alt)'!r} did not load" for i in seen["images"] if not i["loaded"]]
    problems += [f"has no heading {h!r}" for h in headings if not any(h in s for s in seen["headings"])]
    loaded = [i["alt"] for i in seen["images"] if i["loaded"]]
    problems += [f"has no figure {f!r}" for f in figures if not any(f in a for a in loaded)]
    if seen["tables"] < min_tables: problems.append(f"has {seen['tables']} tables, expected at least {min_tables}")
    if shot is not None and not drawn(screenshot(page, shot)): problems.append("screenshot is blank")
    if problems: raise AssertionError(f"{Path(page).name}: " + "; ".join(problems))
    return seen


if __name__ == "__main__":
    if CHROMIUM is None:
        print("browser check: no Chromium (apt-get install chromium)" + ("; required here" if REQUIRED else "; skipped"))
        sys.exit(1 if REQUIRED else 0)
    pages = [Path(p) for p in sys.argv[1:]]
    shots = Path(os.environ.get("SCREENSHOTS", "_docs/screenshots")); shots.mkdir(parents=True, exist_ok=True)
    for page in pages: check_page(page, shot=shots / f"{page.stem}.png")
    print(f"browser check: {len(pages)} pages rendered in {Path(CHROMIUM).name}, screenshots in {shots}/")
