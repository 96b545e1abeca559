"""Engine and training throughput, measured side by side in one run.

1. New tokens/s of the engine (KV cache, continuous batching) at batch 1, 16, 64, 256, against
   a loop without a KV cache that recomputes the whole sequence at every step (same model, same
   prompts, same greedy tokens). Prints the ratio.
2. Training tokens/s of SFT steps (forward, backward, AdamW) and the FLOP/s they achieve, next to
   the FLOP/s this machine reaches on a plain large matmul.
3. With ``--context N``: decoding where reasoning decodes, after a prompt and N tokens of trace,
   for two architectures side by side (``--models``: by default the shipped nano-rl, full
   multi-head attention, against the nano-v2 recipe's grouped-query attention, fresh weights:
   the speed of a step does not depend on what the weights are). A decode step reads every
   weight once and the keys and values of every cached token; the bytes it reads per second are
   set against this machine's memory bandwidth, measured in the same run as a STREAM-like copy
   of 512 MB (bytes read plus bytes written, per second). Near that figure, decoding is as fast
   as the memory lets it be.
4. With ``--context N --attention``: where a decode step's time goes, the attention of one layer
   alone, as the model computes it (``scaled_dot_product_attention`` over a view of the cache's
   slots, with the mask of each slot's length), the same on a contiguous copy without a mask, a
   plain matmul, softmax, matmul on each, and the first with the cache in bfloat16 and float16,
   in bytes of keys and values read per second against the same copy bandwidth, and what all
   layers' attention costs a step.
5. With ``--context N --profile``: the whole decode step of each model, by operator (PyTorch's
   profiler over 32 steps): attention, the weights' matrix products, and the rest.

    python benchmarks/engine.py                 # the shipped model
    python benchmarks/engine.py --model DIR --new-tokens 128 --repeats 3
    python benchmarks/engine.py --context 1000   # only this: old and new architecture at a 1k context
    python benchmarks/engine.py --context 1000 --attention --models recipe:nano-v2   # its attention alone
    python benchmarks/engine.py --context 1000 --profile --batches 64 --models recipe:nano-v2  # the step by operator

Timings on shared machines vary from run to run: the script reports medians, and the ratios
(measured in the same run) are the figures to compare.
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

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


def copy_bandwidth(megabytes: int = 512, repeats: int = 5) -> float:
    """Bytes per second a plain copy moves (read plus written): the memory's practical limit."""
    src = torch.ones(megabytes * 2 ** 20 // 4)
    dst = torch.empty_like(src)
    dst.copy_(src)
    return 2 * src.numel() * 4 / min(median_time(lambda: dst.copy_(src), 1) for _ in range(repeats))


def model_of(spec: str):
    """A model directory or shipped name, or ``recipe:NAME`` for that recipe's architecture with fresh weights."""
    from dataclasses import replace

    from ponder.backends.nano import model_path
    from ponder.model import Transformer
    from ponder.train.recipes import load_recipe
    from ponder.train.sft import SFTConfig
    from ponder.train.vocab import nano_tokenizer

    if spec.startswith("recipe:"):
        cfg = load_recipe(spec.removeprefix("recipe:"), SFTConfig).model
        tokenizer = nano_tokenizer()
        torch.manual_seed(0)
        return Transformer(replace(cfg, vocab_size=len(tokenizer), number_tokens=tokenizer.number_range)).eval(), tokenizer
    model, tokenizer, _ = load_model(model_path(spec))
    return model, tokenizer


def context_prompt(tokenizer, context: int) -> tuple[int, ...]:
    """A Countdown prompt and the start of a search trace, ``context`` tokens in all."""
    from ponder.tasks import get_task

    task = get_task("countdown")
    for p in task.problems("test", 200):
        ids = tokenizer.encode(task.prompt(p) + task.full_search(p), bos=True)
        if len(ids) >= context:
            return tuple(ids[:context])
    raise SystemExit(f"no test problem has a search of {context} tokens")


def bench_context(specs: list[str], batches: list[int], context: int, new_tokens: int, repeats: int) -> None:
    bandwidth = copy_bandwidth()
    print(f"\n== decoding after {context} tokens of prompt and trace: {new_tokens} new tokens a sample, "
          f"sampled at temperature 1 ==")
    print(f"memory bandwidth (copy, read + write): {bandwidth / 1e9:.1f} GB/s")
    print(f"{'model':<28}{'batch':>6}{'tok/s':>9}{'vs first':>10}{'ms/step':>9}{'KV MB/step':>12}"
          f"{'read GB/s':>11}{'of copy':>9}")
    first: dict[int, float] = {}
    for spec in specs:
        model, tokenizer = model_of(spec)
        cfg = model.cfg
        label = f"{spec} (kv {cfg.n_kv_heads}/{cfg.n_heads})"
        prompt = context_prompt(tokenizer, context)
        weights = sum(p.numel() for p in model.parameters()) * 4
        for batch in batches:
            engine = Engine(model, max_batch=batch, prefix_cache_tokens=0)

            def run(tokens: int) -> float:
                request = Request(prompt, n=batch, temperature=1.0, max_tokens=tokens, seed=1)
                return median_time(lambda: engine.generate([request]), repeats)

            run(2)  # warm up, and size the cache
            short = run(8)
            step = (run(8 + new_tokens) - short) / new_tokens  # the prompt's cost cancels
            tokens_s = batch / step
            kv = cfg.n_layers * 2 * batch * cfg.n_kv_heads * cfg.head_dim * 4 * (context + 8 + new_tokens // 2)
            read = (kv + weights) / step
            first.setdefault(batch, tokens_s)
            print(f"{label:<28}{batch:>6}{tokens_s:>9.0f}{tokens_s / first[batch]:>9.2f}x{step * 1e3:>9.1f}"
                  f"{kv / 1e6:>12.1f}{read / 1e9:>11.1f}{read / bandwidth:>9.0%}")


@torch.inference_mode()
def bench_attention(specs: list[str], batches: list[int], context: int, repeats: int) -> None:
    import torch.nn.functional as F

    bandwidth = copy_bandwidth()
    print(f"\n== one layer's attention in a decode step, {context} cached tokens a sample ==")
    print(f"memory bandwidth (copy, read + write): {bandwidth / 1e9:.1f} GB/s")
    print(f"{'model':<28}{'batch':>6}{'way':>27}{'us/layer':>10}{'ms/step':>9}{'KV GB/s':>9}{'of copy':>9}")
    for spec in specs:
        cfg = model_of(spec)[0].cfg
        group, span = cfg.n_heads // cfg.n_kv_heads, context + 1
        for batch in batches:
            torch.manual_seed(0)
            slots = [torch.randn(batch, cfg.n_kv_heads, cfg.max_seq_len, cfg.head_dim) for _ in range(2)]
            k, v = (s[:, :, :span] for s in slots)  # a view into the slots, as the engine's cache hands it
            kc, vc = k.contiguous(), v.contiguous()
            q = torch.randn(batch, cfg.n_kv_heads, group, cfg.head_dim)
            mask = torch.ones(batch, 1, 1, span, dtype=torch.bool)
            scale = cfg.head_dim ** -0.5
            ways = {"sdpa, view + mask": lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
                    "sdpa, contiguous": lambda: F.scaled_dot_product_attention(q, kc, vc),
                    "matmul, view + mask": lambda: torch.softmax(
                        (q @ k.transpose(-1, -2) * scale).masked_fill(~mask, float("-inf")), -1) @ v,
                    "matmul, contiguous": lambda: torch.softmax(q @ kc.transpose(-1, -2) * scale, -1) @ vc}
            itemsize = {way: kc.element_size() for way in ways}  # bytes of each key and value a way reads
            for dtype, name in ((torch.bfloat16, "bf16"), (torch.float16, "fp16")):  # half the bytes to read
                kh, vh = (s.to(dtype)[:, :, :span] for s in slots)
                way = f"sdpa, view + mask, {name}"
                ways[way] = partial(F.scaled_dot_product_attention, q.to(dtype), kh, vh, attn_mask=mask)
                itemsize[way] = kh.element_size()
            for way, fn in ways.items():
                kv = 2 * kc.numel() * itemsize[way]
                fn()
                t = min(median_time(fn, 20) for _ in range(repeats))
                print(f"{spec:<28}{batch:>6}{way:>27}{t * 1e6:>10.0f}{t * cfg.n_layers * 1e3:>9.1f}"
                      f"{kv / t / 1e9:>9.1f}{kv / t / bandwidth:>9.0%}")


def bench_profile(specs: list[str], batches: list[int], context: int, steps: int = 32) -> None:
    from torch.profiler import ProfilerActivity, profile

    groups = {"attention": ("aten::_scaled_dot_product_flash_attention_for_cpu", "aten::_scaled_dot_product_attention_math"),
              "matrix products": ("aten::mm", "aten::addmm", "aten::bmm")}
    print(f"\n== where a decode step's time goes, {context} cached tokens a sample, {steps} steps profiled ==")
    print(f"{'model':<28}{'batch':>6}{'ms/step':>9}{'attention':>11}{'matmuls':>9}{'rest':>7}   largest of the rest")
    for spec in specs:
        model, tokenizer = model_of(spec)
        prompt = context_prompt(tokenizer, context)
        for batch in batches:
            engine = Engine(model, max_batch=batch, prefix_cache_tokens=2 * context)
            request = Request(prompt, n=batch, temperature=1.0, max_tokens=steps, seed=1)
            # warm up with the same request, so the cache is already sized (allocating it is no decode
            # step); the prompt goes into the prefix cache, so the profiled run computes only its last block
            engine.generate([request])
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                engine.generate([request])
            ops = {e.key: e.self_cpu_time_total for e in prof.key_averages()}  # microseconds
            total = sum(ops.values())
            shares = {name: sum(ops.get(op, 0) for op in members) / total for name, members in groups.items()}
            rest = sorted(((t, op) for op, t in ops.items() if not any(op in m for m in groups.values())), reverse=True)
            top = ", ".join(f"{op.removeprefix('aten::')} {t / total:.0%}" for t, op in rest[:3])
            print(f"{spec:<28}{batch:>6}{total / steps / 1e3:>9.1f}{shares['attention']:>11.0%}"
                  f"{shares['matrix products']:>9.0%}{1 - sum(shares.values()):>7.0%}   {top}")
    print(f"(a step here includes the profiler's own cost, and 1/{steps} of the prompt's last block)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--batches", default="1,16,64,256")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--context", type=int, help="only decoding after this many tokens, for --models side by side")
    ap.add_argument("--attention", action="store_true", help="with --context: one layer's attention alone")
    ap.add_argument("--profile", action="store_true", help="with --context: the whole decode step by operator")
    ap.add_argument("--models", nargs="+", default=["nano-rl", "recipe:nano-v2"],
                    help="with --context: model directories, shipped names or recipe:NAME (default: nano-rl recipe:nano-v2)")
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    if args.context and args.attention:
        bench_attention(args.models, batches, args.context, args.repeats)
        return
    if args.context and args.profile:
        bench_profile(args.models, batches, args.context)
        return
    if args.context:
        print(f"torch threads {torch.get_num_threads()}")
        bench_context(args.models, batches, args.context, args.new_tokens, args.repeats)
        return
    model, tokenizer, meta = load_model(args.model)
    print(f"model {args.model}: {model.num_params() / 1e6:.2f}M parameters, torch threads {torch.get_num_threads()}")
    bench_decoding(model, tokenizer, batches, args.new_tokens, args.repeats)
    bench_training(model.cfg, args.seq_len, 8192, args.repeats)


if __name__ == "__main__":
    main()
