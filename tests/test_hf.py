"""Hugging Face interop: the export matches ponder's model and tokenizer, the hf backend matches
the nano backend, and classification checkpoints serve as reward models."""

import json
import random
import sys

import pytest
import torch
from conftest import needs_module, run_ponder

transformers = needs_module("transformers", "the hf tests need it: pip install 'ponder[hf]'")

from ponder.backends import load_policy  # noqa: E402
from ponder.backends.hf import HFPolicy, require_transformers  # noqa: E402
from ponder.backends.nano import DEFAULT_MODEL, NanoPolicy  # noqa: E402
from ponder.errors import UserError  # noqa: E402
from ponder.model import load_model  # noqa: E402
from ponder.model.export import export_hf  # noqa: E402
from ponder.rewards import get_reward  # noqa: E402
from ponder.rewards.hf import HFReward, last_tokens, positive_probability, step_ends  # noqa: E402
from ponder.search import get_strategy  # noqa: E402
from ponder.tasks import get_task  # noqa: E402
from ponder.types import SamplingParams  # noqa: E402

pytestmark = pytest.mark.shipped("nano-v2", "nano-sft")

COUNTDOWN = get_task("countdown-3")
PROBLEMS = COUNTDOWN.problems("test", 3, seed=0)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export_hf(DEFAULT_MODEL, tmp_path_factory.mktemp("hf") / "nano-v2", source_name="nano-v2")


@pytest.fixture(scope="module")
def nano():
    return NanoPolicy.load(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def hf(exported):
    return HFPolicy.load(exported)


def traces() -> list[str]:
    """Prompts followed by solver search traces (dead ends, fractions, carries) of every task."""
    out = []
    for name in ("countdown", "game24", "arith", "countdown-3"):
        task = get_task(name)
        for i, p in enumerate(task.problems("val", 3, seed=1)):
            out.append(task.prompt(p) + "".join(text for text, _ in task.trace(p, rng=random.Random(i))))
    return out


# --------------------------------------------------------------------------- export


def test_export_writes_a_plain_llama_checkpoint(exported):
    config = json.loads((exported / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and config["model_type"] == "llama"
    assert config["tie_word_embeddings"] is True and config["torch_dtype"] == "float32"
    assert config["ponder"]["source_model"] == "nano-v2" and config["ponder"]["recipe"]
    for name in ("model.safetensors", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "ponder_export.json"):
        assert (exported / name).is_file(), name
    from safetensors import safe_open

    with safe_open(str(exported / "model.safetensors"), "pt") as f:
        names = set(f.keys())
    assert "model.embed_tokens.weight" in names and not any("number_proj" in n or "value_head" in n for n in names)


def test_the_chat_template_gives_the_prompt_ponder_writes(exported):
    tok = transformers.AutoTokenizer.from_pretrained(exported, local_files_only=True)
    task = get_task("game24")
    problem = task.problems("tot", 1)[0]
    prompt = task.prompt(problem)
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "hi"}, {"role": "user", "content": prompt.strip()}]
    ids = tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=True, return_dict=False)
    assert ids == tok(prompt)["input_ids"] and ids[0] == tok.bos_token_id


def test_the_model_card_says_how_to_prompt_and_where_it_came_from(exported):
    card = (exported / "README.md").read_text()
    meta = json.loads((exported / "ponder_export.json").read_text())["meta"]
    assert card.startswith("---\nlicense: apache-2.0") and "game24 4 7 8 8 -> 24" in card
    assert f"Recipe `{meta['recipe']}`" in card and meta["commit"] in card
    assert f"| game24 | {meta['eval']['eval/game24/accuracy']:.1%} |" in card


def test_logits_match_ponder_in_float32(exported):
    model, tok, _ = load_model(DEFAULT_MODEL)
    ref = transformers.AutoModelForCausalLM.from_pretrained(exported, local_files_only=True).eval()
    seqs = [tok.encode(t, bos=True)[:300] for t in traces()[:6]]
    with torch.no_grad():
        worst = 0.0
        for ids in seqs[:3]:  # one at a time, lengths differ
            x = torch.tensor([ids])
            worst = max(worst, float((model(x) - ref(x).logits).abs().max()))
        common = min(len(ids) for ids in seqs)
        batch = torch.tensor([ids[:common] for ids in seqs])  # a batch of six
        worst = max(worst, float((model(batch) - ref(batch).logits).abs().max()))
    assert worst <= 1e-4, worst


def test_tokenizer_encodes_and_decodes_like_ponder(exported, nano):
    ours = nano.tokenizer  # the exported model's own (a fresh model's has words added since)
    theirs = transformers.AutoTokenizer.from_pretrained(exported, local_files_only=True)
    for text in traces() + ["countdown 25 3 7 9 -> 66\n", "25+3=28", "ü 123456 007", "1⁄3 (4 * (5 - 2))"]:
        assert theirs(text)["input_ids"] == ours.encode(text, bos=True), text
        ids = ours.encode(text, bos=True, eos=True)
        assert theirs.decode(ids, skip_special_tokens=True) == ours.decode(ids), text
    rng = random.Random(0)
    for _ in range(300):  # any ids a model may write, special tokens kept or not
        ids = [rng.randrange(len(ours)) for _ in range(rng.randrange(1, 25))]
        assert theirs.decode(ids, skip_special_tokens=True) == ours.decode(ids)
        assert theirs.decode(ids, skip_special_tokens=False) == ours.decode(ids, skip_special=False)


def test_export_command(tmp_path):
    out = tmp_path / "nano-hf"
    run_ponder("export", "hf", "--out", str(out))
    assert json.loads((out / "config.json").read_text())["ponder"]["source_model"] == "nano-v2"
    again = run_ponder("export", "hf", "--out", str(out), check=False)
    assert again.returncode == 2 and "not empty" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    run_ponder("export", "hf", "--model", "nano-sft", "--out", str(out), "--force")
    assert json.loads((out / "config.json").read_text())["ponder"]["source_model"] == "nano-sft"
    bad = run_ponder("export", "hf", "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "x"), check=False)
    assert bad.returncode == 2 and "not found" in bad.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary directory left


# --------------------------------------------------------------------------- the hf backend


def test_greedy_text_equals_the_nano_backend(nano, hf):
    prompts = [COUNTDOWN.prompt(p) for p in PROBLEMS]
    params = SamplingParams(temperature=0.0, max_tokens=160)
    for a, b in zip(nano.generate(prompts, params), hf.generate(prompts, params)):
        assert a[0].text == b[0].text and a[0].token_ids == b[0].token_ids
        assert (a[0].finish_reason, a[0].prompt_tokens) == (b[0].finish_reason, b[0].prompt_tokens)


def test_seeded_samples_repeat_stop_strings_cut_and_logprobs_align(hf):
    prompts = [COUNTDOWN.prompt(p) for p in PROBLEMS[:2]]
    params = SamplingParams(n=4, temperature=1.0, max_tokens=40, seed=7, stop=("\n",), logprobs=True)
    first, second = hf.generate(prompts, params), hf.generate(prompts[::-1], params)[::-1]
    assert [[c.text for c in row] for row in first] == [[c.text for c in row] for row in second]
    for row in first:
        assert len(row) == 4
        for c in row:
            assert "\n" not in c.text and len(c.logprobs) == len(c.token_ids)
            assert all(lp <= 0 for lp in c.logprobs)
            if c.stop == "\n":
                assert c.finish_reason == "stop"
    short = hf.generate(prompts[:1], SamplingParams(temperature=0.0, max_tokens=3))[0][0]
    assert short.finish_reason == "length" and len(short.token_ids) == 3 and short.stop is None


def test_two_calls_text_is_spliced_as_one_call_writes_it(hf):
    from ponder.backends.base import spliced

    assert spliced(hf, "25 - 3", "= 22") == "25 - 3 = 22" and spliced(hf, "22 |\n", "7 10") == "22 |\n7 10"


def test_context_limit(hf):
    long_prompt = "countdown " + " ".join(["7"] * (hf.max_context + 5))
    out = hf.generate([long_prompt], SamplingParams(max_tokens=5))[0][0]
    assert out.finish_reason == "length" and out.token_ids == ()


def test_loading_errors(tmp_path, monkeypatch, exported):
    with pytest.raises(UserError, match="not found"):
        load_policy("hf:/nonexistent/model")
    with pytest.raises(UserError, match="config.json"):
        load_policy(f"hf:{tmp_path}")
    assert isinstance(load_policy(str(exported)), HFPolicy)  # config.json and no ponder.json
    assert isinstance(load_policy(str(exported), "hf"), HFPolicy)  # --backend hf --model DIR
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(UserError, match=r"pip install 'ponder\[hf\]'"):
        require_transformers()


def test_eval_accuracy_equals_the_nano_backend(exported):
    runs = {}
    for model in (f"hf:{exported}", "nano-v2"):
        out = run_ponder("eval", "--model", model, "--task", "countdown-3", "--limit", "5", "--json").stdout
        runs[model] = json.loads(out.strip().splitlines()[-1])
    hf_run, nano_run = runs.values()
    assert hf_run["n"] == nano_run["n"] == 5 and hf_run["accuracy"] == nano_run["accuracy"]


# --------------------------------------------------------------------------- reward models


def test_reading_rules():
    assert positive_probability(torch.tensor([[0.0]])).tolist() == [0.5]
    two = positive_probability(torch.tensor([[0.0, 2.0]]))
    assert two.item() == pytest.approx(torch.softmax(torch.tensor([0.0, 2.0]), 0)[1].item())
    with pytest.raises(UserError, match="positive"):
        positive_probability(torch.zeros(1, 3))
    assert positive_probability(torch.tensor([[0.0, 0.0, 5.0]]), positive=2).item() > 0.9
    text = "a b\n\nc\nanswer: 3\n"
    assert step_ends(text, ["a b", "c"], None) == [3, 6]
    assert step_ends(text, None, "\n\n") == [3, len(text)]
    assert last_tokens([(0, 0), (0, 1), (2, 3), (4, 5)], [3, 5, 1]) == [2, 3, 1]


def _judge(tmp_path, exported, head: str):
    """A tiny random Llama classifier with the exported tokenizer, saved as a checkpoint."""
    config = transformers.LlamaConfig(
        vocab_size=1100, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, pad_token_id=0, bos_token_id=1, eos_token_id=2,
        num_labels=2 if head == "token" else 1)
    torch.manual_seed(0)
    cls = transformers.LlamaForTokenClassification if head == "token" else transformers.LlamaForSequenceClassification
    path = tmp_path / head
    cls(config).save_pretrained(path)
    transformers.AutoTokenizer.from_pretrained(exported, local_files_only=True).save_pretrained(path)
    return path


def test_process_judge_scores_each_step(tmp_path, exported, nano):
    path = _judge(tmp_path, exported, "token")
    prm = get_reward(str(path))
    assert isinstance(prm, HFReward) and prm.kind == "process"
    problem = PROBLEMS[0]
    texts = ["".join(t for t, _ in COUNTDOWN.trace(problem, rng=random.Random(i))) for i in range(3)] + ["answer: 3 + 4"]
    scores = prm.score(problem, texts)
    for text, s in zip(texts, scores):
        assert len(s) == max(1, len(COUNTDOWN.steps(text))) and all(0 < x < 1 for x in s)
    assert prm.score(problem, texts) == scores  # deterministic
    assert prm.usage.reward_tokens > 0
    assert prm.values(problem, texts[:2]) == [scores[0][-1], scores[1][-1]]
    by_sep = get_reward(f"hf:{path}", separator=" | ").score(problem, texts[:1])[0]
    assert len(by_sep) == sum(1 for piece in texts[0].split(" | ") if piece.strip())
    result = get_strategy("beam", width=2, expand=2)(problem, nano, prm, budget=600, seed=0, task=COUNTDOWN)
    assert result.usage.reward_tokens > 0 and result.trace  # tree search valued partial texts with it


def test_outcome_judge_serves_best_of_n(tmp_path, exported, nano):
    orm = get_reward(f"hf:{_judge(tmp_path, exported, 'sequence')}")
    assert orm.kind == "outcome"
    problem = PROBLEMS[0]
    one = orm.score(problem, ["3 + 4 = 7\n"])
    assert len(one) == 1 and len(one[0]) == 1
    batch = orm.score(problem, ["3 + 4 = 7\n", "answer: 1 + 2 + 3\n" * 3, "x"])  # padding does not change a score
    assert batch[0][0] == pytest.approx(one[0][0], abs=1e-5)
    result = get_strategy("best-of-n", n=2)(problem, nano, orm, seed=0, task=COUNTDOWN)
    assert result.usage.reward_tokens > 0 and len(result.candidates) == 2
