"""The vllm backend: its mapping of parameters and outputs against a fake ``vllm`` module (runs on
any CPU), the missing-vLLM error, and one real run where vLLM and a GPU are present."""

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
    assert policy.llm.model == "/ckpt/tiny" and policy.llm.engine_args == {"enable_prefix_caching": True}
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
    with pytest.raises(UserError, match="needs vLLM and a GPU: pip install 'ponder\\[vllm\\]'"):
        load_policy("vllm:/ckpt/tiny")
    assert "pip install" in INSTALL_HINT


# --------------------------------------------------------------------------- the real engine


def has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def tiny_checkpoint(path) -> str:
    """A randomly initialised two-layer Llama with a byte-level BPE tokenizer trained on a few
    lines: a real checkpoint vLLM can load, made in seconds, with nothing downloaded."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    lines = [f"countdown {a} {b} {c} -> {a + b - c}\n" for a in range(1, 30) for b in range(1, 10) for c in range(1, 5)]
    bpe.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=320, special_tokens=["<s>", "</s>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bos = ("<s>", bpe.token_to_id("<s>"))
    bpe.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[bos])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>")
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                      bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    LlamaForCausalLM(cfg).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.mark.skipif(not has_cuda(), reason="vLLM needs a GPU; this machine has none")
def test_vllm_runs_for_real(tmp_path):
    pytest.importorskip("vllm", reason="vLLM is not installed (pip install 'ponder[vllm]')")
    policy = VLLMPolicy.load(tiny_checkpoint(tmp_path / "tiny"), max_model_len=512, gpu_memory_utilization=0.2,
                             enforce_eager=True, dtype="bfloat16")
    prompt = "countdown 12 7 3 -> 16\n" * 8  # long enough to fill whole prefix-cache blocks
    sampled = policy.generate([prompt, "countdown 5 5 2 ->"],
                              SamplingParams(n=3, temperature=1.0, max_tokens=8, seed=0, logprobs=True))
    assert [len(row) for row in sampled] == [3, 3]
    for c in sampled[0] + sampled[1]:
        assert 1 <= len(c.token_ids) <= 8 and len(c.logprobs) == len(c.token_ids) and max(c.logprobs) <= 0
        assert c.finish_reason in ("stop", "length")
    assert sampled[0][0].prompt_tokens == policy.count_tokens(prompt) + 1  # + <s>
    [[a]], [[b]] = (policy.generate([prompt], SamplingParams(temperature=0.0, max_tokens=8)) for _ in range(2))
    assert a.text == b.text and b.cached_tokens > 0  # the prompt came from the prefix cache
