#!/bin/bash
# The test-time scaling sweep whose results are in this folder: every strategy at 1, 4 and 16
# times greedy decoding's cost, greedy, majority, best-of-n and auto also at 64 times, on 16 problems of each hard split.
# The policy is the shipped SFT policy (nano-sft), on which the reward models were trained.
# Writes to runs/search (or the folder given); run it again and it resumes where it stopped.
set -e
out=${1:-runs/search}
all=greedy,sample,majority,adaptive,weighted-vote,best-of-n,beam,tot,dvts,rebase,best-first,mcts,revise,think,auto
big=greedy,majority,best-of-n,auto
countdown=(--model nano-sft --task countdown --split test-unseen --limit 16 --output "$out/sweep-countdown.jsonl")
game24=(--model nano-sft --task game24 --split test --limit 16 --output "$out/sweep-game24.jsonl")
ponder sweep "${countdown[@]}" --strategies $all --multiples 1,4,16
ponder sweep "${game24[@]}" --strategies $all --multiples 1,4,16
ponder sweep "${countdown[@]}" --strategies $big --multiples 64
ponder sweep "${game24[@]}" --strategies $big --multiples 64
ponder report "$out"/sweep-*.jsonl --out "$out/report"
