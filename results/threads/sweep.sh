#!/bin/bash
# Seed 002's guess measured against the other two (issue 35), on the problems of results/hypotheses
# (200 Countdown-4 unseen-target problems, Tree of Thoughts' 100 Game of 24 puzzles), whose tree search
# and votes (nano-v2-sft, at 1, 4 and 16 times its greedy cost) the threads are compared with.
# One policy writes both one long chain (its serial search, greedy) and threads (parallel):
#   both greedy, at a context of 1,536 and 2,048 tokens (each thread's, for threads; 2,048 is the
#   policy's own: it was never trained on longer positions);
#   threads within 4,000 total tokens (the issue's target) and at 3,960 (4x nano-v2-sft's greedy
#   cost, the budget of the previous issue's tree search and votes);
#   one chain at equal latency: greedy capped at the threads' longest chain of sequential tokens;
#   threads with the path found copied out by the runtime (the default) and by the policy (copy=false).
# MODEL=nano-v2-par (default) or a model directory. Writes to runs/threads (or the folder given);
# run it again and it resumes where it stopped.
# Read it with: python benchmarks/hypotheses.py runs/threads/*-nano-v2-par-*.jsonl results/hypotheses/*.jsonl
set -e
out=${1:-runs/threads}
model=${MODEL:-nano-v2-par}
name=$(basename "$(dirname "$model")")-$(basename "$model")
name=${name#.-}
steps() {  # the parallel point's sequential tokens per problem (its options as given), in a sweep file
  python -c "import json,sys; print(round(next(r['steps_per_problem'] for r in map(json.loads, open(sys.argv[1]))
             if r['strategy'] == 'parallel' and r['budget'] is None and r.get('options', {}) == json.loads(sys.argv[2]))))" \
    "$1" "${2:-{\}}"
}
for ctx in 1536 2048; do
  for which in "countdown test-unseen 200" "game24 tot 100"; do
    set -- $which
    file="$out/$1-$2-$name-$ctx.jsonl"
    ponder sweep --model "$model" --task $1 --split $2 --limit $3 --strategies greedy,parallel --budgets none \
      --context $ctx --output "$file"
    ponder sweep --model "$model" --task $1 --split $2 --limit $3 --strategies parallel --budgets none \
      --set copy=false --context $ctx --output "$file"
    ponder sweep --model "$model" --task $1 --split $2 --limit $3 --strategies greedy \
      --budgets "$(steps "$file"),$(steps "$file" '{"copy": false}')" --context $ctx --output "$file"
  done
done
ponder sweep --model "$model" --task countdown --split test-unseen --limit 200 --strategies parallel --budgets 3960,4000 \
  --context 1536 --output "$out/countdown-test-unseen-$name-1536.jsonl"
ponder sweep --model "$model" --task game24 --split tot --limit 100 --strategies parallel --budgets 4000 \
  --context 1536 --output "$out/game24-tot-$name-1536.jsonl"
ponder report "$out"/*-"$name"-*.jsonl results/hypotheses/*.jsonl --out "$out/report"
