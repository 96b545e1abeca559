"""The vllm backend: its mapping of parameters and outputs against a fake ``vllm`` module (runs
without vLLM) and the missing-vLLM error. The real engine's tests are in test_vllm_cpu.py."""

import sys
from types import ModuleType, SimpleNamespace

import pytest

from ponder.backends import load_policy
from ponder.backends.vllm import INSTALL_HINT, VLLMPolicy
from ponder.errors import UserError
from ponder.types import SamplingParams

# --------------------------------------------------------------------------- a fake vllm


class FakeLLM:
    """Records what it is given; answers each prompt with ``n`` canned samples, listed last first."""

    def __init__(self, model, **engine_args):
        self.model, self.engine_args, self.calls = model, engine_args, []
        self.llm_engine = SimpleNamespace(model_config=SimpleNamespace(max_model_len=2048))

    def get_tokenizer(self):
        def encode(text, add_special_tokens=True):  # a word a token, after <bos> (id 7) if asked
            return [7] * add_special_tokens + [9] * len(text.split())

        return SimpleNamespace(encode=encode)

    def generate(self, prompts, params, use_tqdm=True):
        self.calls.append((prompts, params, use_tqdm))
        return [SimpleNamespace(prompt_token_ids=[1] * (len(p.split()) + 1), num_cached_tokens=None if i else 16,
                                outputs=[self.sample(k, sp) for k in reversed(range(sp.n))])
                for i, (p, sp) in enumerate(zip(prompts, params))]

    @staticmethod
    def sample(k: int, sp):
        ids = [10 + k, 20 + k, 30 + k]
        # each position: the sampled token, and a likelier one it was not
        logprobs = [{t: SimpleNamespace(logprob=-0.5 * (j + 1)), 99: SimpleNamespace(logprob=-0.1)}
                    for j, t in enumerate(ids)]
        finish, stop_reason = [("stop", "\n"), ("length", None), ("stop", 2), ("stop", None)][k % 4]
        return SimpleNamespace(index=k, text=f"sample {k}", token_ids=ids, logprobs=logprobs if sp.logprobs else None,
                               finish_reason=finish, stop_reason=stop_reason)


@pytest.fixture
def fake_vllm(monkeypatch):
    module = ModuleType("vllm")
    module.LLM = FakeLLM
    module.SamplingParams = lambda **kw: SimpleNamespace(**kw)
    monkeypatch.setitem(sys.modules, "vllm", module)
    return module


def test_load_starts_the_engine_with_prefix_caching(fake_vllm):
    policy = load_policy("vllm:/ckpt/tiny")
    assert isinstance(policy, VLLMPolicy) and policy.name == "/ckpt/tiny" and policy.max_context == 2048
    assert policy.llm.model == "/ckpt/tiny" and policy.llm.engine_args["enable_prefix_caching"] is True
    assert policy.count_tokens("three word text") == 3  # no special tokens, as nano counts


def test_parameters_and_outputs_are_mapped(fake_vllm):
    policy = VLLMPolicy.load("/ckpt/tiny")
    params = [SamplingParams(n=4, temperature=0.7, top_p=0.9, max_tokens=3, stop=("\n", ""), seed=5, logprobs=True),
              SamplingParams(temperature=0.0, top_k=5, max_tokens=8)]
    out = policy.generate(["a b c", "d e"], params)
    [(prompts, sent, use_tqdm)] = policy.llm.calls
    assert prompts == ["a b c", "d e"] and use_tqdm is False
    assert vars(sent[0]) == dict(n=4, temperature=0.7, top_p=0.9, top_k=-1, max_tokens=3, stop=["\n"], seed=5,
                                 logprobs=1)
    assert vars(sent[1]) == dict(n=1, temperature=0.0, top_p=1.0, top_k=5, max_tokens=8, stop=[], seed=None,
                                 logprobs=None)
    first = out[0]
    assert [c.text for c in first] == ["sample 0", "sample 1", "sample 2", "sample 3"]  # by index
    assert first[0].token_ids == (10, 20, 30) and first[0].logprobs == (-0.5, -1.0, -1.5)  # the sampled tokens'
    assert [c.finish_reason for c in first] == ["stop", "length", "stop", "stop"]
    assert [c.stop for c in first] == ["\n", None, None, None]  # a stop token id is not a stop string
    assert (first[0].prompt_tokens, first[0].cached_tokens) == (4, 16)
    [only] = out[1]
    assert only.logprobs is None and (only.prompt_tokens, only.cached_tokens) == (3, 0)


def test_without_vllm_the_error_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm now raises ImportError
    with pytest.raises(UserError, match="needs vLLM: pip install 'ponder\\[vllm\\]'"):
        load_policy("vllm:/ckpt/tiny")
    assert "pip install" in INSTALL_HINT
