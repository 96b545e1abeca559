#!/bin/bash
# The README's sweep at 100 problems a cell: the default strategies (greedy, majority, best-of-n,
# auto, beam, think) at 1, 4 and 16 times greedy decoding's cost, with the default policy (nano-v2)
# on 100 Countdown-4 problems with unseen targets. Add --workers N to run each cell on N Ray actors
# (the same rows). Writes to runs/sweep100 (or the folder given); run it again and it resumes.
set -e
out=${1:-runs/sweep100}
ponder sweep --task countdown --split test-unseen --limit 100 --multiples 1,4,16 --output "$out/sweep-countdown.jsonl"
ponder report "$out/sweep-countdown.jsonl" --out "$out/report"
