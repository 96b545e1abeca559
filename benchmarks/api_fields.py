"""What the official ``openai`` client gets back from ``ponder serve``: responses.create (plain and
streamed) and chat.completions.create at each of the six reasoning efforts, on one Game of 24 puzzle.

Starts a server, makes the calls, prints per call the fields returned (the response's top-level
fields, its output items and their fields; a chat message's fields), what ran, the reasoning
tokens and the seconds taken.

    python benchmarks/api_fields.py
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

PUZZLE = "Game of 24: 4 7 8 8"


def main() -> None:
    import openai

    port = 8766
    proc = subprocess.Popen([sys.executable, "-m", "ponder.cli", "serve", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        for _ in range(400):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.25)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused")
        client.chat.completions.create(model="nano-v2", messages=[{"role": "user", "content": PUZZLE}])  # warm

        t0 = time.perf_counter()
        r = client.responses.create(model="nano-v2", input=PUZZLE, reasoning={"effort": "high", "summary": "auto"})
        seconds = time.perf_counter() - t0
        print(f"responses.create (effort high, summary auto): {seconds:.2f} s, status {r.status}")
        print(f"  response fields: {', '.join(sorted(r.model_dump(exclude_none=True)))}")
        for item in r.output:
            print(f"  output item {item.type}: {', '.join(sorted(item.model_dump(exclude_none=True)))}")
        print(f"  output_text {r.output_text!r}; summary parts {len(r.output[0].summary)}; "
              f"usage.output_tokens_details.reasoning_tokens {r.usage.output_tokens_details.reasoning_tokens}")

        t0 = time.perf_counter()
        kinds, first = [], None
        for event in client.responses.create(model="nano-v2", input=PUZZLE, stream=True,
                                              reasoning={"effort": "medium", "summary": "auto"}):
            if first is None and event.type == "response.reasoning_summary_text.delta":
                first = time.perf_counter() - t0
            if not kinds or kinds[-1][0] != event.type:
                kinds.append([event.type, 0])
            kinds[-1][1] += 1
        print(f"responses.create stream=True (effort medium, summary auto): {time.perf_counter() - t0:.2f} s, "
              f"first reasoning delta after {first:.3f} s; events in order:")
        print("  " + ", ".join(f"{k}" + (f" x{n}" if n > 1 else "") for k, n in kinds))

        print(f"\n{'effort':<8} {'strategy':<11} {'reward':<10} {'reasoning tokens':>16} {'seconds':>8}  answer")
        for effort in ("none", "minimal", "low", "medium", "high", "xhigh"):
            t0 = time.perf_counter()
            c = client.chat.completions.create(model="nano-v2", reasoning_effort=effort,
                                               messages=[{"role": "user", "content": PUZZLE}])
            seconds = time.perf_counter() - t0
            info, m = c.model_extra["ponder"], c.choices[0].message
            print(f"{effort:<8} {info['strategy']:<11} {str(info['reward']):<10} "
                  f"{c.usage.completion_tokens_details.reasoning_tokens:>16} {seconds:>8.2f}  {m.content}")
        print(f"  message fields: {', '.join(sorted(m.model_dump(exclude_none=True)))}")
        print(f"  usage fields: {', '.join(sorted(c.usage.model_dump(exclude_none=True)))}; completion_tokens_details: "
              f"{', '.join(sorted(c.usage.completion_tokens_details.model_dump(exclude_none=True)))}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
