"""Engine and training throughput, measured side by side in one run.

1. New tokens/s of the engine (KV cache, continuous batching) at batch 1, 16, 64, 256, against
   a loop without a KV cache that recomputes the whole sequence at every step (same model, same
   prompts, same greedy tokens). Prints the ratio.
2. Training tokens/s of SFT steps (forward, backward, AdamW) and the FLOP/s they achieve, next to
   the FLOP/s this machine reaches on a plain large matmul.

    python benchmarks/engine.py                 # the shipped model
    python benchmarks/engine.py --model DIR --new-tokens 128 --repeats 3

Timings on shared machines vary from run to run: the script reports medians, and the ratios
(measured in the same run) are the figures to compare.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ponder.backends.nano import DEFAULT_MODEL
from ponder.engine import Engine, Request
from ponder.model import load_model


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@torch.inference_mode()
def no_cache_greedy(model, prompts: list[list[int]], new_tokens: int) -> list[list[int]]:
    """The baseline: every step runs the model over the whole sequence so far (no KV cache)."""
    seqs = torch.tensor(prompts)
    for _ in range(new_tokens):
        logits = model(seqs)[:, -1]
        seqs = torch.cat([seqs, logits.argmax(-1, keepdim=True)], dim=1)
    return seqs[:, len(prompts[0]):].tolist()


def prompts_for(tokenizer, batch: int) -> list[list[int]]:
    from ponder.tasks import get_task

    task = get_task("countdown")
    problems = task.problems("test", batch)
    ids = [tokenizer.encode(task.prompt(p), bos=True) for p in problems]
    width = max(len(i) for i in ids)  # equal lengths, so the baseline needs no padding
    return [[tokenizer.bos_id] * (width - len(i)) + i for i in ids]


def bench_decoding(model, tokenizer, batches: list[int], new_tokens: int, repeats: int) -> None:
    print(f"\n== decoding: {new_tokens} new tokens per sequence, greedy ==")
    print(f"{'batch':>6} {'engine tok/s':>13} {'no-cache tok/s':>15} {'ratio':>7}")
    for batch in batches:
        prompts = prompts_for(tokenizer, batch)
        engine = Engine(model, max_batch=batch, prefix_cache_tokens=0)
        requests = [Request(tuple(p), temperature=0, max_tokens=new_tokens) for p in prompts]
        out = engine.generate(requests)  # warm up, and check both paths agree
        base = no_cache_greedy(model, prompts[:2], new_tokens)
        agree = all(out[i][0].tokens == base[i] for i in range(min(2, batch)))
        t_engine = median_time(lambda: engine.generate(requests), repeats)
        t_base = median_time(lambda: no_cache_greedy(model, prompts, new_tokens), max(1, repeats // 2))
        produced = batch * new_tokens
        print(f"{batch:>6} {produced / t_engine:>13.0f} {produced / t_base:>15.0f} {t_base / t_engine:>6.1f}x"
              + ("" if agree else "   (outputs differ!)"))


def matmul_flops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    return 2 * n ** 3 / median_time(lambda: a @ b, repeats)


def bench_training(model_cfg, seq_len: int, micro_tokens: int, repeats: int) -> None:
    from ponder.model import Transformer

    print(f"\n== training: forward + backward + AdamW, micro-batch {micro_tokens} tokens of length {seq_len} ==")
    torch.manual_seed(0)
    model = Transformer(model_cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = micro_tokens // seq_len
    x = torch.randint(0, model_cfg.vocab_size, (batch, seq_len))

    def step():
        loss = model(x, x)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    t = median_time(step, repeats)
    tokens_s = micro_tokens / t
    n = model.num_params()
    # 6 N per token for the weights, plus attention scores and values: 6 * 2 * layers * seq * d / 2 (causal)
    attn = 6 * model_cfg.n_layers * seq_len * model_cfg.d_model
    achieved = tokens_s * (6 * n + attn)
    peak = matmul_flops()
    print(f"params {n / 1e6:.2f}M   tokens/s {tokens_s:.0f}   achieved {achieved / 1e9:.1f} GFLOP/s")
    print(f"machine matmul (2048^3, fp32): {peak / 1e9:.1f} GFLOP/s   -> training reaches {achieved / peak:.0%} of it")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--batches", default="1,16,64,256")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seq-len", type=int, default=256)
    args = ap.parse_args()
    model, tokenizer, meta = load_model(args.model)
    print(f"model {args.model}: {model.num_params() / 1e6:.2f}M parameters, torch threads {torch.get_num_threads()}")
    bench_decoding(model, tokenizer, [int(b) for b in args.batches.split(",")], args.new_tokens, args.repeats)
    bench_training(model.cfg, args.seq_len, 8192, args.repeats)


if __name__ == "__main__":
    main()
