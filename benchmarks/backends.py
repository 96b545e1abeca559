"""ponder's engine against transformers on the same weights, measured side by side in one run.

0. Parity: the largest difference between the logits of ponder's model and of its export.
1. Decoding: new tokens/s of ponder's engine (the one NanoPolicy drives: KV cache, continuous
   batching) and of transformers' ``generate`` on the exported ``LlamaForCausalLM``, at batch 1,
   16 and 64: the same prompts, greedy, a fixed number of new tokens (both ignore the end of
   sequence, so both write every token). Medians of a few repeats; the ratio engine/transformers.
   The script also checks that both wrote the same tokens.
2. Search: wall time of step beam search and MCTS on a few Countdown problems through the nano
   and the hf policy, with the shipped PRM judging. HFPolicy samples with ponder's seeded sampler,
   so with equal logits both backends draw the same samples and run the same search: the time is
   the difference, and the script says whether the answers agree.

    python benchmarks/backends.py                        # nano-rl, exported to a temporary directory
    python benchmarks/backends.py --hf runs/nano-hf --batches 1,16 --new-tokens 64 --repeats 2
    python benchmarks/backends.py --batches 64 --strategies "" --profile   # where the engine's time goes

Timings on shared machines vary from run to run: compare the ratios, measured in the same run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from engine import matmul_flops, median_time  # benchmarks/engine.py, beside this script
from ponder.backends.hf import HFPolicy
from ponder.backends.nano import NanoPolicy, model_path
from ponder.engine import Engine, Request
from ponder.model.export import export_hf
from ponder.rewards import get_reward
from ponder.search import get_strategy
from ponder.tasks import get_task


def prompts_for(nano: NanoPolicy, batch: int) -> list[list[int]]:
    """Countdown prompts as token ids, with <bos> (their lengths differ a little)."""
    task = get_task("countdown")
    return [nano.tokenizer.encode(task.prompt(p), bos=True) for p in task.problems("test", batch)]


def engine_greedy(engine: Engine, prompts: list[list[int]], new_tokens: int) -> list[list[int]]:
    requests = [Request(tuple(p), temperature=0, max_tokens=new_tokens) for p in prompts]  # no stop tokens
    return [gens[0].tokens for gens in engine.generate(requests)]


def plain_transformers(path: Path, pad_id: int):
    """The exported model as transformers loads it, with no end-of-sequence token in its generation
    config: ``generate`` fills what a call leaves unset from it, and would stop rows at <eos>."""
    from transformers import AutoModelForCausalLM, GenerationConfig

    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).eval()
    model.generation_config = GenerationConfig(pad_token_id=pad_id)
    return model


@torch.inference_mode()
def transformers_greedy(model, prompts: list[list[int]], new_tokens: int, pad_id: int) -> list[list[int]]:
    """Plain ``generate``: left padding, greedy, every row writes ``new_tokens`` tokens."""
    from transformers import GenerationConfig

    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    config = GenerationConfig(max_new_tokens=new_tokens, do_sample=False, pad_token_id=pad_id)
    out = model.generate(input_ids=ids, attention_mask=mask, generation_config=config)[:, width:].tolist()
    if len(out[0]) != new_tokens:
        raise RuntimeError(f"generate wrote {len(out[0])} tokens, not {new_tokens}: it stopped early")
    return out


@torch.inference_mode()
def parity(nano: NanoPolicy, hf_dir: Path, count: int = 8) -> None:
    """Largest difference between the logits of ponder's model and of the export, float32, on
    prompts followed by solver traces of every task."""
    import random

    from transformers import AutoModelForCausalLM

    ref = AutoModelForCausalLM.from_pretrained(hf_dir, local_files_only=True).eval()
    worst, tokens = 0.0, 0
    for name in ("countdown", "game24", "arith", "countdown-3"):
        task = get_task(name)
        for i, p in enumerate(task.problems("val", count // 4, seed=1)):
            text = task.prompt(p) + "".join(t for t, _ in task.trace(p, rng=random.Random(i)))
            x = torch.tensor([nano.tokenizer.encode(text, bos=True)[:nano.max_context]])
            worst = max(worst, float((nano.model(x) - ref(x).logits).abs().max()))
            tokens += x.shape[1]
    print(f"\n== parity: logits of ponder's model and the export, {tokens} positions of {count} traces, float32 ==")
    print(f"max abs difference {worst:.3g}")


def bench_decoding(nano: NanoPolicy, hf_dir: Path, batches: list[int], new_tokens: int, repeats: int,
                   profile: bool = False) -> None:
    print(f"\n== decoding: {new_tokens} new tokens per sequence, greedy, float32 ==")
    print(f"{'batch':>6} {'engine tok/s':>13} {'transformers tok/s':>19} {'engine/transformers':>20}")
    pad = nano.tokenizer.pad_id
    model = plain_transformers(hf_dir, pad)
    best = 0.0
    for batch in batches:
        prompts = prompts_for(nano, batch)
        engine = Engine(nano.model, max_batch=batch, prefix_cache_tokens=0)  # no reuse between repeats
        ours = engine_greedy(engine, prompts, new_tokens)  # warm up, and check both wrote the same
        theirs = transformers_greedy(model, prompts, new_tokens, pad)
        same = sum(a == b for a, b in zip(ours, theirs))
        t_engine = median_time(lambda: engine_greedy(engine, prompts, new_tokens), repeats)
        t_hf = median_time(lambda: transformers_greedy(model, prompts, new_tokens, pad), repeats)
        made = batch * new_tokens
        print(f"{batch:>6} {made / t_engine:>13.0f} {made / t_hf:>19.0f} {t_hf / t_engine:>19.2f}x"
              f"   (same tokens in {same}/{batch} rows)")
        best = max(best, made / t_engine)
    if profile:  # where the engine's time goes at the largest batch
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            engine_greedy(engine, prompts, new_tokens)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))
    # how far either could still go: the weights' FLOPs per token (attention left out) at the best
    # rate, against what this machine reaches on a large matmul
    achieved, peak = 2 * nano.model.num_params() * best, matmul_flops()
    print(f"engine at its best: {achieved / 1e9:.1f} GFLOP/s on the weights' matmuls; a 2048^3 matmul "
          f"here: {peak / 1e9:.1f} GFLOP/s ({achieved / peak:.0%})")


def bench_search(nano: NanoPolicy, hf: HFPolicy, strategies: list[str], task_name: str, count: int) -> None:
    task = get_task(task_name)
    problems = task.problems("test", count, seed=0)
    print(f"\n== search: {count} {task.name} problems at once, shipped prm judging, default sizes ==")
    print(f"{'strategy':<10} {'nano s':>8} {'hf s':>8} {'hf/nano':>8} {'tokens nano':>12} {'tokens hf':>10} "
          f"{'solved nano':>12} {'solved hf':>10} {'same answers':>13}")
    for name in strategies:
        row = {}
        for label, policy in (("nano", nano), ("hf", hf)):
            reward = get_reward("prm", task)  # a fresh judge each time: its prefix cache starts empty
            reward.score(problems[0], ["warm up\n"])
            reward.usage.reward_tokens = 0
            t0 = time.perf_counter()
            results = get_strategy(name).run(problems, policy, reward, seed=0, task=task)
            row[label] = (time.perf_counter() - t0, results)
        (t_nano, r_nano), (t_hf, r_hf) = row["nano"], row["hf"]
        tokens = [sum(r.usage.thinking_tokens for r in rs) for rs in (r_nano, r_hf)]
        solved = [sum(task.check(p, r.answer) for p, r in zip(problems, rs)) for rs in (r_nano, r_hf)]
        same = sum(a.answer == b.answer for a, b in zip(r_nano, r_hf))
        print(f"{name:<10} {t_nano:>8.1f} {t_hf:>8.1f} {t_hf / t_nano:>7.2f}x {tokens[0]:>12} {tokens[1]:>10} "
              f"{solved[0]:>12} {solved[1]:>10} {same:>10}/{count}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="nano-rl", help="nano model: a directory or a shipped name")
    ap.add_argument("--hf", help="its export (ponder export hf); default: exported to a temporary directory")
    ap.add_argument("--batches", default="1,16,64")
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--strategies", default="beam,mcts")
    ap.add_argument("--task", default="countdown")
    ap.add_argument("--problems", type=int, default=4)
    ap.add_argument("--profile", action="store_true", help="also print where the engine's time goes at the largest batch")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's; 1 is faster on a busy machine)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory() as tmp:
        hf_dir = Path(args.hf) if args.hf else export_hf(model_path(args.model), Path(tmp) / "hf")
        nano, hf = NanoPolicy.load(args.model), HFPolicy.load(hf_dir)
        import transformers

        print(f"transformers {transformers.__version__}; model {args.model} ({nano.model.num_params():,} parameters)")
        parity(nano, hf_dir)
        if args.batches:
            bench_decoding(nano, hf_dir, [int(b) for b in args.batches.split(",")], args.new_tokens, args.repeats,
                           args.profile)
        if args.strategies:
            bench_search(nano, hf, [s for s in args.strategies.split(",") if s], args.task, args.problems)


if __name__ == "__main__":
    main()
