#!/bin/bash
# The seeds' three guesses at how o1 thinks, at equal thinking tokens (1, 4 and 16 times what greedy
# decoding spends on the same problems), one policy for all: nano-v2-sft, which writes both its own
# long search (one chain, seed 001) and single steps (the unit of tree search, seed 000).
#   one long chain: greedy, think (budget forcing)
#   votes over chains: majority, auto (GenRM-CoT as the judge)
#   tree search over single steps: best-first with the value model prm, as --effort high runs it
# On all 100 of Tree of Thoughts' Game of 24 puzzles and on 200 Countdown-4 unseen-target problems.
# Writes to runs/hypotheses (or the folder given); run it again and it resumes where it stopped.
# Read it with: python benchmarks/hypotheses.py runs/hypotheses/*.jsonl
set -e
out=${1:-runs/hypotheses}
game24=(--model nano-v2-sft --task game24 --split tot --limit 100 --multiples 1,4,16 --output "$out/game24-tot.jsonl")
countdown=(--model nano-v2-sft --task countdown --split test-unseen --limit 200 --multiples 1,4,16
           --output "$out/countdown-test-unseen.jsonl")
tree=(--strategies best-first --set expand=2 --set batch=1 --set widen=0.7)
for task in game24 countdown; do
  declare -n args=$task
  ponder sweep "${args[@]}" "${tree[@]}"
  ponder sweep "${args[@]}" --strategies greedy,think,majority,auto
done
ponder report "$out"/*.jsonl --out "$out/report"
