"""Fine-tuning edge cases: labels, soft targets, filtering, multi-label, resume after SIGKILL, streaming prediction."""
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from llm_distill.core import ConfigError, DataError, LabelError
from llm_distill.data import load_dataset
from llm_distill.finetune import Student, TrainingConfig, fit
from llm_distill.predict import predict_file

FAST = TrainingConfig(epochs=1, max_length=32, batch_size=16, validation_fraction=0.0)


@pytest.fixture(scope="module")
def tweets():
    corpus = load_dataset("theocharis-incivility")
    return corpus.data.iloc[:160].reset_index(drop=True), corpus.codebook


@pytest.fixture(scope="module")
def student(tweets):
    data, codebook = tweets
    return fit(data["text"], data["human_label"], codebook, config=FAST, label_source="human")


def test_bad_inputs_named(tweets):
    data, codebook = tweets
    texts, labels = data["text"].tolist()[:30], data["human_label"].tolist()[:30]
    with pytest.raises(DataError, match="text of row 2 is empty"):
        fit(texts[:2] + ["  "] + texts[3:], labels, codebook, config=FAST)
    with pytest.raises(LabelError, match=r"training data has label\(s\) \['rude'\] not in codebook 'theocharis-incivility' at row 4, counted from 0"):
        fit(texts, labels[:4] + ["rude"] + labels[5:], codebook, config=FAST)
    with pytest.raises(LabelError, match="label of row 0 is missing"):
        fit(texts, [None] + labels[1:], codebook, config=FAST)
    with pytest.raises(LabelError, match="30 texts but 29 labels"):
        fit(texts, labels[:29], codebook, config=FAST)
    with pytest.raises(ConfigError, match="exactly one of labels or soft_labels"):
        fit(texts, labels, codebook, soft_labels=np.ones((30, 2)) / 2)
    with pytest.raises(LabelError, match="no training texts left"):
        fit(texts, labels, codebook, confidence=[0.3] * 30, config=TrainingConfig(min_confidence=0.9))
    with pytest.raises(LabelError, match=r"soft_labels must be \(texts, 2\)"):
        fit(texts, soft_labels=np.ones((30, 3)) / 3, label_names=codebook)
    with pytest.raises(ConfigError, match="not a saved student"):
        Student.load(Path(__file__).parent)


def test_confidence_filter_and_weighting(tweets):
    data, codebook = tweets
    confidence = np.where(np.arange(len(data)) % 2 == 0, 1.0, 0.4)
    filtered = fit(data["text"], data["human_label"], codebook, confidence=confidence,
                   config=TrainingConfig(epochs=1, max_length=32, validation_fraction=0.0, min_confidence=0.5))
    assert filtered.metadata["train_examples"] == len(data) // 2
    weighted = fit(data["text"], data["human_label"], codebook, confidence=confidence,
                   config=TrainingConfig(epochs=1, max_length=32, validation_fraction=0.0, confidence_weighting=True, class_weights=True))
    assert weighted.metadata["train_examples"] == len(data)


def test_validation_split_picks_epoch_and_never_sees_more(tweets):
    data, codebook = tweets
    trained = fit(data["text"], data["human_label"], codebook,
                  config=TrainingConfig(epochs=2, max_length=32, validation_fraction=0.25, patience=1))
    assert trained.metadata["validation_examples"] == 40 and trained.metadata["train_examples"] == 120
    history = trained.metadata["history"]
    assert all("validation_macro_f1" in record for record in history)
    best = max(history, key=lambda r: r["validation_macro_f1"])["epoch"]
    assert trained.metadata["best_epoch"] == best


def test_multi_label(tweets):
    data, _ = tweets
    labels = ["civil|short" if len(t) < 100 else "uncivil" if i % 3 == 0 else "civil" for i, t in enumerate(data["text"])]
    trained = fit(data["text"], labels, ["civil", "short", "uncivil"], multi_label=True, config=FAST)
    probabilities = trained.predict_proba(data["text"][:8])
    assert probabilities.shape == (8, 3) and not np.allclose(probabilities.sum(1), 1)   # independent sigmoids
    assert all(set(p.split("|")) <= {"civil", "short", "uncivil", ""} for p in trained.predict(data["text"][:8]))


def test_long_text_truncated_with_warning(tweets):
    data, codebook = tweets
    texts = data["text"].tolist()[:40]
    texts[5] = "word " * 200_000                  # a 1 MB text
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trained = fit(texts, data["human_label"][:40], codebook, config=FAST)
    assert trained.metadata["truncated_texts"] >= 1
    assert any("truncated" in str(w.message) for w in caught)


def test_predict_file_csv_streams_and_names_missing_column(student, tweets, tmp_path):
    data, _ = tweets
    data[["id", "text"]].to_csv(tmp_path / "in.csv", index=False)
    out = predict_file(student, tmp_path / "in.csv", tmp_path / "out.parquet", id_column="id", chunk_rows=50, progress=False)
    result = pd.read_parquet(out)
    assert len(result) == len(data) and sorted(result.columns) == ["id", "label", "p_civil", "p_uncivil", "status"]
    assert result["label"].tolist() == student.predict(data["text"].tolist())
    with pytest.raises(DataError, match="text column 'body' not found"):
        predict_file(student, tmp_path / "in.csv", tmp_path / "x.csv", text_column="body", progress=False)
    assert not (tmp_path / "x.csv").exists()


def test_predict_file_reports_empty_texts_instead_of_labelling_them(student, tweets, tmp_path):
    data, _ = tweets
    frame = data[["id", "text"]].head(6).copy()
    frame.loc[[1, 4], "text"] = ["", "   "]
    frame.to_csv(tmp_path / "gaps.csv", index=False)
    result = pd.read_csv(predict_file(student, tmp_path / "gaps.csv", tmp_path / "gaps_out.csv", id_column="id", progress=False))
    assert result["label"].isna().tolist() == [False, True, False, False, True, False]
    assert (result.loc[[1, 4], "status"] == "empty text: not labelled").all() and result.loc[[1, 4], "p_civil"].isna().all()
    assert result.loc[[0, 2], "label"].tolist() == student.predict(frame["text"].iloc[[0, 2]].tolist())


RESUME_WORKER = """
import sys, warnings
warnings.filterwarnings("ignore")
import numpy as np
from llm_distill.data import load_dataset
from llm_distill.finetune import TrainingConfig, fit
corpus = load_dataset("theocharis-incivility")
data = corpus.data.iloc[:96]
config = TrainingConfig(epochs=3, max_length=32, batch_size=16, validation_fraction=0.0, seed=3)
student = fit(data["text"], data["human_label"], corpus.codebook, config=config, resume_dir=sys.argv[1] or None)
np.save(sys.argv[2], student.predict_proba(data["text"].tolist()[:20]))
"""


def test_sigkill_during_training_resumes_to_identical_model(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(RESUME_WORKER)
    subprocess.run([sys.executable, script, "", tmp_path / "reference.npy"], check=True)
    resume = tmp_path / "resume"
    process = subprocess.Popen([sys.executable, script, resume, tmp_path / "killed.npy"])
    deadline = time.monotonic() + 1800         # kill once the first epoch's checkpoint is on disk: an event, not a moment,
    while time.monotonic() < deadline:         # so a loaded machine only makes the test slower, never wrong
        if (resume / "resume.pt").exists() or process.poll() is not None:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (resume / "resume.pt").exists() and not (tmp_path / "killed.npy").exists()
    subprocess.run([sys.executable, script, resume, tmp_path / "resumed.npy"], check=True)
    assert np.allclose(np.load(tmp_path / "resumed.npy"), np.load(tmp_path / "reference.npy"), atol=1e-6)


SHARD_WORKER = """
import json, sys, warnings
warnings.filterwarnings("ignore")
from sklearn.metrics import f1_score
from llm_distill.data import load_dataset
from llm_distill.finetune import TrainingConfig, fit
corpus = load_dataset("theocharis-incivility")
train, test = corpus.data.iloc[:256], corpus.data.iloc[256:384]
config = TrainingConfig(epochs=4, max_length=48, batch_size=16, validation_fraction=0.0, learning_rate=1e-4, class_weights=True, seed=0, threads=1)
student = fit(train["text"], train["human_label"], corpus.codebook, config=config)
f1 = f1_score(test["human_label"], student.predict(test["text"].tolist()), average="macro")
import os
rank = int(os.environ.get("RANK", 0))
json.dump({"rank": rank, "processes": student.metadata["processes"], "batches": [h["batches"] for h in student.metadata["history"]],
           "f1": f1}, open(f"{sys.argv[1]}.{rank}.json", "w"))
"""


def test_accelerate_launch_shards_batches_across_processes(tmp_path):
    """Launched as two processes, each walks half the batches, and the model learns. On CPU, `accelerate launch --cpu`
    starts several processes only through MPI; `torchrun` starts the same processes that `accelerate launch` starts on GPUs."""
    import json
    script = tmp_path / "shard.py"
    script.write_text(SHARD_WORKER)
    launcher = Path(sys.executable).parent / "torchrun"
    subprocess.run([launcher, "--nproc_per_node", "2", "--master_port", "29517", script, tmp_path / "two"], check=True, timeout=600)
    ranks = [json.loads((tmp_path / f"two.{r}.json").read_text()) for r in (0, 1)]
    assert all(r["processes"] == 2 for r in ranks)
    assert all(r["batches"] == [8] * 4 for r in ranks)   # 256 texts / 16 = 16 batches, 8 each
    assert ranks[0]["f1"] == ranks[1]["f1"]              # one model, kept in sync
    assert ranks[0]["f1"] > 0.55, ranks[0]["f1"]         # learned beyond the majority class (0.43)
