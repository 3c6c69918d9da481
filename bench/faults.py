"""Reliability figures: a labelling run under mixed faults and repeated SIGKILLs, kills during training and
experiment cells, and the bad-input battery.

One JSON object per line:
  {"bench":"faults","requests":...,"injected":{...},"lost":0,"paid_twice":0,"kills":10,"identical_after_resume":true,...}
  {"bench":"training_kills","kills":3,"identical_after_resume":true}
  {"bench":"bad_inputs","cases":...,"clear_errors":...,"right_results":...,"handled":...}
  {"bench":"shared_cache","paid_twice":0,...}   two processes labelling the same texts into one cache
  {"bench":"disk_full","lost":0,"how":"tmpfs"|"simulated ENOSPC",...}   the cache's disk fills during labelling
  {"bench":"retry_after","seconds":...,"capped":true,...}   a server answering every request with Retry-After: 3600
  {"bench":"estimate_refusals","coverage":...}   PPI coverage over 300 draws, a biased machine refusing texts of one class (target >= 0.93)
  {"bench":"file_safety","lost":0,...}   every command pointed at its own input and at a folder it did not create (target 0)
The server is the loopback OpenAI-compatible server of tests/openai_server.py (10% 429 with Retry-After,
5% 500, 2% hangs past the client timeout, 5% malformed bodies, 5% answers outside the label set).
"""
import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np
import pandas as pd

from openai_server import LoopbackServer
from bad_inputs import RIGHT, cases, run_case

FAULTS = {"429": 0.10, "500": 0.05, "hang": 0.02, "malformed": 0.05, "outside": 0.05}

LABEL_WORKER = """
import sys, warnings
warnings.filterwarnings("ignore")
from llm_distill.data import load_dataset
from llm_distill.llm import OpenAIBackend
from llm_distill.annotate import annotate
corpus = load_dataset("davidson-hate-offensive", duplicate_texts="drop")
corpus = corpus.subset(corpus.ids[:int(sys.argv[4])])
backend = OpenAIBackend("gpt-4o-mini", api_key="sk-bench", base_url=sys.argv[1], timeout=1.0)
print("start", flush=True)
table = annotate(corpus, backend=backend, cache=sys.argv[2], progress=False, concurrency=32)
table[["id", "label", "status", "detail"]].to_csv(sys.argv[3], index=False)
"""

TRAIN_WORKER = """
import sys, warnings
warnings.filterwarnings("ignore")
import numpy as np
from llm_distill.data import load_dataset
from llm_distill.finetune import TrainingConfig, fit
corpus = load_dataset("theocharis-incivility")
data = corpus.data.iloc[:96]
config = TrainingConfig(epochs=5, max_length=32, batch_size=16, validation_fraction=0.0, seed=3)
student = fit(data["text"], data["human_label"], corpus.codebook, config=config, resume_dir=sys.argv[1] or None)
np.save(sys.argv[2], student.predict_proba(data["text"].tolist()[:20]))
"""


def labelling(args, folder):
    script = folder / "label_worker.py"
    script.write_text(LABEL_WORKER)
    run = lambda url, cache, out: subprocess.run([sys.executable, script, url, cache, out, str(args.requests)], check=True,
                                                 stdout=subprocess.DEVNULL)
    with LoopbackServer() as clean:
        run(clean.base_url, folder / "reference.sqlite", folder / "reference.csv")
    reference = pd.read_csv(folder / "reference.csv")
    with LoopbackServer(faults=FAULTS, hang_seconds=2.0, seed=args.seed, latency_ms=50) as server:
        kills, rng = 0, random.Random(args.seed)
        while kills < args.kills:
            process = subprocess.Popen([sys.executable, script, server.base_url, folder / "faulty.sqlite", folder / "faulty.csv",
                                        str(args.requests)], stdout=subprocess.PIPE, text=True)
            process.stdout.readline()
            time.sleep(rng.uniform(0.2, 1.0))
            if process.poll() is not None:
                break                              # finished before the kill landed: nothing left to kill
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
        run(server.base_url, folder / "faulty.sqlite", folder / "faulty.csv")
        stats = server.stats()
    faulty = pd.read_csv(folder / "faulty.csv")
    lost = int(len(reference) - len(faulty) + (faulty["status"] == "failed").sum() - faulty.loc[faulty["status"] == "failed", "detail"].notna().sum())
    ok = faulty["status"] == "ok"
    identical = bool((faulty.loc[ok, "label"].values == reference.loc[ok, "label"].values).all())
    print(json.dumps({"bench": "faults", "requests": len(reference), "received": stats["received"], "injected": stats["injected"],
                      "labelled": int(ok.sum()), "reported_unparsed": int((faulty["status"] == "unparsed").sum()),
                      "failed_with_reason": int((faulty["status"] == "failed").sum()), "lost": lost,
                      "paid_twice": stats["billed_twice"], "replayed_by_idempotency_key": stats["replayed"], "kills": kills,
                      "identical_after_resume": identical}), flush=True)


def training(args, folder):
    script = folder / "train_worker.py"
    script.write_text(TRAIN_WORKER)
    subprocess.run([sys.executable, script, "", folder / "reference.npy"], check=True)
    resume, kills, seen = folder / "resume", 0, 0.0
    while kills < 3:
        process = subprocess.Popen([sys.executable, script, resume, folder / "killed.npy"])
        checkpoint = resume / "resume.pt"
        while process.poll() is None and not (checkpoint.exists() and checkpoint.stat().st_mtime > seen):
            time.sleep(0.05)
        if process.poll() is not None:
            break
        seen = checkpoint.stat().st_mtime
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
    subprocess.run([sys.executable, script, resume, folder / "resumed.npy"], check=True)
    identical = bool(np.allclose(np.load(folder / "resumed.npy"), np.load(folder / "reference.npy"), atol=1e-6))
    print(json.dumps({"bench": "training_kills", "kills": kills, "identical_after_resume": identical}), flush=True)


SHARED_WORKER = """
import sys, warnings
warnings.filterwarnings("ignore")
from llm_distill.data import load_dataset
from llm_distill.llm import OpenAIBackend
from llm_distill.annotate import annotate
corpus = load_dataset("davidson-hate-offensive", duplicate_texts="drop")
corpus = corpus.subset(corpus.ids[:int(sys.argv[3])])
backend = OpenAIBackend("gpt-4o-mini", api_key="sk-bench", base_url=sys.argv[1])
table = annotate(corpus, backend=backend, cache=sys.argv[2], progress=False, concurrency=16)
print(table.attrs["run"]["calls"], table.attrs["run"]["shared"], int((table["status"] == "ok").sum()), flush=True)
"""


def shared_cache(folder, texts=150):
    "Two processes label the same texts into one cache at once; the server ignores idempotency keys, as the chat API does."
    script = folder / "shared_worker.py"
    script.write_text(SHARED_WORKER)
    with LoopbackServer(latency_ms=50, idempotency=False) as server:
        processes = [subprocess.Popen([sys.executable, script, server.base_url, folder / "shared.sqlite", str(texts)],
                                      stdout=subprocess.PIPE, text=True) for _ in range(2)]
        outputs = [process.communicate()[0].split() for process in processes]
        stats = server.stats()
    print(json.dumps({"bench": "shared_cache", "texts": texts, "processes": 2, "billed": stats["billed"],
                      "paid_twice": stats["billed_twice"], "asked_by_each": [int(o[0]) for o in outputs],
                      "taken_from_the_other": [int(o[1]) for o in outputs], "labelled_by_each": [int(o[2]) for o in outputs]}), flush=True)


def _small_disk(folder, size):
    "A tmpfs of `size` at folder (None when mounting is not allowed here)."
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    return folder if done.returncode == 0 else None


def disk_full(folder, texts=1500):
    "The cache's disk fills during labelling: every answer the server delivered must be in the cache once space is back."
    from llm_distill.annotate import annotate
    from llm_distill.data import load_dataset
    from llm_distill.llm import Cache, CacheWriteError, OpenAIBackend
    import sqlite3
    corpus = load_dataset("davidson-hate-offensive", duplicate_texts="drop")
    corpus = corpus.subset(corpus.ids[:texts])
    disk = _small_disk(folder / "small", "320k")
    how = "tmpfs" if disk else "simulated ENOSPC"
    if disk:
        cache = Cache(disk / "cache.sqlite")
    else:
        class FillsUp(Cache):   # ENOSPC after 17 answers, as the run
            writes = 0
            def _write(self, rows, call):
                FillsUp.writes += 1
                if FillsUp.writes > 17: raise sqlite3.OperationalError("database or disk is full")
                super()._write(rows, call)
        (folder / "small").mkdir(parents=True, exist_ok=True)
        cache = FillsUp(folder / "small" / "cache.sqlite")
    error = ""
    with LoopbackServer(latency_ms=20, idempotency=False) as server:
        try: annotate(corpus, backend=OpenAIBackend("gpt-4o-mini", api_key="sk-bench", base_url=server.base_url), cache=cache,
                      progress=False, concurrency=8)
        except CacheWriteError as failure: error = str(failure)
        billed = server.stats()["billed"]
    cache.close()
    if disk: subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)   # space is back
    reopened = Cache(folder / "small" / "cache.sqlite")
    stored = len(reopened)
    reopened.close()
    if disk: subprocess.run(["umount", str(disk)], check=False)
    print(json.dumps({"bench": "disk_full", "how": how, "delivered": billed, "stored_after_reopen": stored,
                      "lost": billed - stored, "reported": "disk full or read-only" in error, "error": error[:200]}), flush=True)


def retry_after(folder, texts=20, max_wait=300.0):
    "A server that answers every request with 429 and Retry-After: 3600: each row fails at once with a clear status, the run ends."
    from llm_distill.annotate import annotate
    from llm_distill.data import load_dataset
    from llm_distill.llm import OpenAIBackend
    corpus = load_dataset("davidson-hate-offensive", duplicate_texts="drop")
    corpus = corpus.subset(corpus.ids[:texts])
    with LoopbackServer(faults={"429": 1.0}, retry_after=3600) as server:
        started = time.monotonic()
        table = annotate(corpus, backend=OpenAIBackend("gpt-4o-mini", api_key="sk-bench", base_url=server.base_url, max_wait=max_wait),
                         cache=folder / "retry.sqlite", progress=False)
        seconds = time.monotonic() - started
    marked = table["detail"].fillna("").str.contains("Retry-After")
    print(json.dumps({"bench": "retry_after", "texts": texts, "retry_after": 3600, "max_wait": max_wait, "seconds": round(seconds, 2),
                      "capped": bool(seconds < max_wait and marked.all()), "rows_marked": int(marked.sum())}), flush=True)


def bad_inputs(folder):
    battery = cases(folder)
    outcomes = [(name, *run_case(function)) for name, function, _ in battery]
    expected = {name: words for name, _, words in battery}
    clear = [name for name, outcome, message in outcomes
             if outcome == "clear" and expected[name] != RIGHT and all(w in message for w in expected[name])]
    right = [name for name, outcome, _ in outcomes if outcome == RIGHT and expected[name] == RIGHT]
    print(json.dumps({"bench": "bad_inputs", "cases": len(battery), "clear_errors": len(clear), "right_results": len(right),
                      "handled": len(clear) + len(right), "mishandled": [n for n, *_ in outcomes if n not in clear + right]}), flush=True)


def estimate_refusals(args, draws=300):
    "PPI's coverage when the machine is biased and its refusals fall on one class: every human label kept (the package's rule) vs dropped with them."
    from llm_distill.codebook import load_codebook
    from llm_distill.inference import estimate_shares, indicator
    codebook, rng = load_codebook("textclass-toxicity"), np.random.default_rng(args.seed)
    hits = {"kept": 0, "dropped": 0}
    for _ in range(draws):
        truth = np.where(rng.random(1000) < 0.5, "toxic", "non-toxic")
        machine = np.where(rng.random(1000) < 0.8, truth, "toxic").astype(object)    # biased towards toxic
        machine[(truth == "toxic") & (rng.random(1000) < 0.4)] = None                 # refusals, all of toxic texts
        coded = np.isin(np.arange(1000), rng.choice(1000, 150, replace=False))
        human = [t if c else None for t, c in zip(truth, coded)]
        share = indicator(truth, "toxic").mean()
        answered = [m is not None for m in machine]
        for how, (m, h) in {"kept": (machine.tolist(), human),
                            "dropped": ([x for x, a in zip(machine, answered) if a], [x for x, a in zip(human, answered) if a])}.items():
            row = estimate_shares(m, h, codebook).query("label == 'toxic' and method == 'ppi'").iloc[0]
            hits[how] += row["ci_low"] <= share <= row["ci_high"]
    print(json.dumps({"bench": "estimate_refusals", "draws": draws, "coverage": round(hits["kept"] / draws, 3),
                      "coverage_if_refusals_were_dropped": round(hits["dropped"] / draws, 3), "target": 0.93}), flush=True)


def file_safety(folder):
    "Every command pointed at its own input, and at a folder it did not create: nothing the user had may change or vanish."
    import contextlib, io
    from llm_distill.cli import main as cli
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    words = {"toxic": ["idiot", "stupid", "hate"], "non-toxic": ["thanks", "great", "kind"]}
    labels = rng.choice(["toxic", "non-toxic"], 60)
    frame = pd.DataFrame({"id": [f"{i:03d}" for i in range(60)], "text": [" ".join(rng.choice(words[l], 3)) + f" {i}" for i, l in enumerate(labels)],
                          "label": labels})
    user = folder / "users-folder"
    (user / "student").mkdir(parents=True)
    for name, text in {"README.md": "my notes", "config.json": "{}", "student/thesis.tex": "years of work"}.items(): (user / name).write_text(text)
    frame.to_csv(user / "data.csv", index=False)
    frame[["id", "label"]].to_csv(user / "labels.csv", index=False)
    (user / "exp.yaml").write_text(f"name: x\ndata: {{file: {user / 'data.csv'}, id: id, label: label}}\ncodebook: textclass-toxicity\n"
                                  "llm: {backend: replay, model: m, column: label}\nstudent: {recipe: tfidf}\ntrain_sizes: [null]\n")
    before = {p: p.read_bytes() for p in user.rglob("*") if p.is_file()}
    data = ["--file", user / "data.csv", "--id", "id", "--label", "label", "--codebook", "textclass-toxicity"]
    student = folder / "student"
    attempts = {
        "label onto its input": ["label", *data, "--backend", "replay", "--column", "label", "--model", "m", "--cache", folder / "c.sqlite", "--output", user / "data.csv"],
        "label onto its cache": ["label", *data, "--backend", "replay", "--column", "label", "--model", "m", "--cache", user / "labels.csv", "--output", folder / "a.csv"],
        "validate into the user's folder": ["validate", *data, user / "labels.csv", "--output", user],
        "train into the user's folder": ["train", *data, "--recipe", "tfidf", "--output", user],
        "train into the user's student/": ["train", *data, "--recipe", "tfidf", "--output", user / "student"],
        "predict onto its input": ["predict", "--student", student, "--input", user / "data.csv", "--output", user / "data.csv"],
        "estimate onto its input": ["estimate", user / "labels.csv", "--human", user / "labels.csv", "--codebook", "textclass-toxicity", "--output", user / "labels.csv"],
        "run into the user's folder": ["run", user / "exp.yaml", "--output", user],
        "demo into the user's folder": ["demo", "--quick", "--output", user],
    }
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        cli([str(a) for a in ["train", *data, "--recipe", "tfidf", "--output", student]])   # a student of our own, for predict
        statuses = {name: cli([str(a) for a in argv]) for name, argv in attempts.items()}
    after = {p: p.read_bytes() for p in user.rglob("*") if p.is_file()}
    lost = sorted(str(p.relative_to(user)) for p in before if after.get(p) != before[p])
    print(json.dumps({"bench": "file_safety", "attempts": len(attempts), "refused": sum(s == 2 for s in statuses.values()), "lost": len(lost),
                      "lost_files": lost, "not_refused": [n for n, s in statuses.items() if s != 2]}), flush=True)


ROWS = ("faults", "training_kills", "bad_inputs", "shared_cache", "disk_full", "retry_after", "estimate_refusals", "file_safety")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="+", choices=ROWS, default=ROWS, help="the rows to measure (default: all)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    if "faults" in args.only: labelling(args, folder)
    if "training_kills" in args.only: training(args, folder)
    if "bad_inputs" in args.only:
        (folder / "bad").mkdir()
        bad_inputs(folder / "bad")
    if "shared_cache" in args.only: shared_cache(folder)
    if "disk_full" in args.only: disk_full(folder / "disk")
    if "retry_after" in args.only: retry_after(folder)
    if "estimate_refusals" in args.only: estimate_refusals(args)
    if "file_safety" in args.only: file_safety(folder / "files")


if __name__ == "__main__":
    main()
