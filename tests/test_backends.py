"A new provider is one class and one registry entry: the config, the experiment and the command line take it."
import pytest

from llm_distill.cli import build_parser
from llm_distill.core import ConfigError
from llm_distill.experiment import run_experiment
from llm_distill.design import ExperimentConfig
from llm_distill.llm import BACKENDS, Completion, LLMBackend, OpenAIBackend, ReplayBackend, TransformersBackend, register_backend


class AlwaysFirst:
    "A provider that answers every text with the codebook's first label."
    name, batch = "always-first", False

    def __init__(self, model, answer): self.model, self.answer = model, answer
    def cost(self, prompt_tokens, completion_tokens, batch=False): return 0.0

    @classmethod
    def from_settings(cls, llm, corpus, codebook, api_key=None, where="llm"): return cls(llm["model"], codebook.label_names[0])

    def complete_batch(self, requests, decoding): return [Completion([self.answer] * r.samples, model=self.model) for r in requests]


@pytest.fixture
def registered():
    register_backend("always-first")(AlwaysFirst)
    yield
    BACKENDS.pop("always-first")


def test_the_shipped_backends_are_registered():
    assert {"replay": ReplayBackend, "openai": OpenAIBackend, "transformers": TransformersBackend}.items() <= BACKENDS.items()
    assert "batch" in BACKENDS and all(callable(getattr(cls, "from_settings")) for cls in BACKENDS.values())


def test_a_new_backend_runs_an_experiment(tmp_path, registered):
    assert isinstance(AlwaysFirst("m", "toxic"), LLMBackend)
    config = ExperimentConfig(name="first", data={"dataset": "textclass-toxicity", "limit": 60}, llm={"backend": "always-first", "model": "m"},
                              conditions=["llm_direct"], folds=2, bootstrap=20, output=str(tmp_path / "run"))
    result = run_experiment(config, progress=False)
    assert result.annotations["label"].eq("toxic").all() and result.methods["llm"]["backend"] == "always-first"
    assert result.results.loc[0, "accuracy"] == pytest.approx(0.5)   # the stratified sample is half toxic
    arguments = build_parser().parse_args(["label", "--file", "data.csv", "--backend", "always-first", "--model", "m"])
    assert arguments.backend == "always-first"


def test_an_unregistered_backend_is_refused_with_the_choices():
    with pytest.raises(ConfigError, match=r"llm.backend must be one of \['batch', 'openai', 'replay', 'transformers'\], not 'ollama'"):
        ExperimentConfig(name="x", data={"dataset": "textclass-toxicity"}, llm={"backend": "ollama", "model": "m"})
    with pytest.raises(TypeError, match="from_settings"):
        register_backend("nothing")(type("Nothing", (), {}))
