"""Labelling throughput against the loopback OpenAI-compatible server, and the speed of a fully cached re-run.

Prints one JSON object per line:
  {"bench":"labeling","concurrency":64,"latency_ms":200,"requests":5000,"req_per_s":...,"bound_req_per_s":320,"ratio":...}
  {"bench":"cache","labels":10000,"labels_per_s":...,"backend_calls":0}
Targets: ratio >= 0.9; cache >= 20,000 labels/s. The server runs in its own process, as a real one would.
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]

from llm_distill.annotate import annotate
from llm_distill.data import load_dataset
from llm_distill.llm import OpenAIBackend


def start_server(latency_ms):
    process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "openai_server.py"), "--port", "0",
                                "--latency-ms", str(latency_ms)], stdout=subprocess.PIPE, text=True)
    port = int(process.stdout.readline())
    return process, f"http://127.0.0.1:{port}"


def stats(url):
    with urllib.request.urlopen(url + "/stats") as response:
        return json.load(response)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--cached-labels", type=int, default=10000)
    args = parser.parse_args()
    corpus = load_dataset("davidson-hate-offensive", duplicate_texts="drop")
    folder = Path(tempfile.mkdtemp())

    process, url = start_server(args.latency_ms)
    try:
        subset = corpus.subset(corpus.ids[:args.requests])
        backend = OpenAIBackend("gpt-4o-mini", api_key="sk-bench", base_url=url + "/v1", timeout=30)
        start = time.perf_counter()
        table = annotate(subset, backend=backend, cache=folder / "live.sqlite", concurrency=args.concurrency, progress=False)
        seconds = time.perf_counter() - start
        assert table["status"].eq("ok").all(), table["status"].value_counts()
        bound = args.concurrency / (args.latency_ms / 1000)
        rate = len(subset) / seconds
        print(json.dumps({"bench": "labeling", "concurrency": args.concurrency, "latency_ms": args.latency_ms,
                          "requests": len(subset), "seconds": round(seconds, 2), "req_per_s": round(rate, 1),
                          "bound_req_per_s": round(bound, 1), "ratio": round(rate / bound, 3)}), flush=True)
    finally:
        process.terminate()

    process, url = start_server(0)
    try:
        subset = corpus.subset(corpus.ids[:args.cached_labels])
        backend = OpenAIBackend("gpt-4o-mini", api_key="sk-bench", base_url=url + "/v1", timeout=30)
        annotate(subset, backend=backend, cache=folder / "cached.sqlite", concurrency=64, progress=False)
        before = stats(url)["received"]
        start = time.perf_counter()
        again = annotate(subset, backend=backend, cache=folder / "cached.sqlite", concurrency=64, progress=False)
        seconds = time.perf_counter() - start
        calls = stats(url)["received"] - before
        assert again["status"].eq("ok").all()
        print(json.dumps({"bench": "cache", "labels": len(subset), "seconds": round(seconds, 3),
                          "labels_per_s": round(len(subset) / seconds), "backend_calls": calls}), flush=True)
    finally:
        process.terminate()


if __name__ == "__main__":
    main()
