"""Coverage and width of prediction-powered intervals on real data with a human label and an LLM label on every text.

For each task and human-sample size, draws many random human subsets; for each, the 95% intervals for the share
of one label by PPI++ (LLM labels on every text, human labels on the subset), by the human subset alone, and by
the LLM labels taken as truth (naive). The truth is the share among all human labels. One JSON line per
(task, size):
  {"bench":"inference","task":...,"label":...,"n_human":...,"coverage_ppi":...,"coverage_human":...,
   "coverage_naive":...,"width_ratio":...}   (width_ratio: mean PPI width / mean human-only width)
"""
import argparse
import json
import warnings

warnings.filterwarnings("ignore")

import numpy as np

from llm_distill.data import code_key, label_for, load_dataset
from llm_distill.inference import estimate_shares, indicator

TASKS = {  # task: (LLM column, label whose share is estimated)
    "textclass-toxicity": ("llm_gpt-3.5-turbo-0125", "toxic"),
    "textclass-misinformation": ("llm_gpt-4o-2024-08-06", "1"),
    "salt-ibc": ("chatgpt_label", "liberal"),
    "salt-semeval-stance": ("chatgpt_label", "none"),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 200])
    args = parser.parse_args()
    for task, (column, label) in TASKS.items():
        corpus = load_dataset(task)
        data = corpus.data[corpus.data["human_label"].notna()]
        name = (lambda v: label_for(corpus.codebook, v)) if corpus.codebook else code_key   # label names, or the file's codes as text
        machine = [name(v) for v in data[column]]
        keep = [isinstance(m, str) for m in machine]
        truth = [name(t) for t, k in zip(data["human_label"], keep) if k]
        machine = [m for m, k in zip(machine, keep) if k]
        true_share = indicator(truth, label).mean()
        for size in args.sizes:
            covered, widths = {"ppi": 0, "human": 0, "naive": 0}, {"ppi": [], "human": []}
            rng = np.random.default_rng(size)
            for _ in range(args.draws):
                subset = set(rng.choice(len(truth), size, replace=False).tolist())
                table = estimate_shares(machine, [t if i in subset else None for i, t in enumerate(truth)], [label]).set_index("method")
                for method in covered:
                    covered[method] += int(table.at[method, "ci_low"] <= true_share <= table.at[method, "ci_high"])
                for method in widths:
                    widths[method].append(table.at[method, "ci_high"] - table.at[method, "ci_low"])
            print(json.dumps({"bench": "inference", "task": task, "label": label, "texts": len(truth), "true_share": round(true_share, 4),
                              "machine_share": round(indicator(machine, label).mean(), 4), "n_human": size, "draws": args.draws,
                              "coverage_ppi": round(covered["ppi"] / args.draws, 3), "coverage_human": round(covered["human"] / args.draws, 3),
                              "coverage_naive": round(covered["naive"] / args.draws, 3),
                              "width_ratio": round(float(np.mean(widths["ppi"]) / np.mean(widths["human"])), 3)}), flush=True)


if __name__ == "__main__":
    main()
