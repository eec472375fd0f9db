#!/usr/bin/env bash
# Issue 16, measurements 2 and 3, as run for docs/selfplay.md (about 1 h 45 min on 2 cores):
# a weak start net from a short Stockfish-labelled bootstrap, two equal-compute self-play runs
# from it (fp32 vs int8-static inference), then their final nets against each other and against
# the start net, 100 games each at equal nodes. Re-running it resumes whatever is unfinished.
#
#     bash docs/selfplay/measure.sh [RUNS_DIR]     (default runs/)
set -u -o pipefail
RUNS=${1:-runs}
mkdir -p "$RUNS"
engine() { python -m engine "$@"; }

# The start net: 200 Stockfish-labelled games (400 nodes), a 32x4-se4 net trained 400 steps.
[ -f "$RUNS/start-32x4.pt" ] || {
  engine datagen --out "$RUNS/boot" --games 200 --nodes 400 --workers 2 --shard-games 50 &&
  engine train --data "$RUNS/boot" --arch 32x4-se4 --steps 400 --batch 256 --out "$RUNS/start-32x4.pt"
} || exit 1

COMMON="--generations 3 --games-per-generation 300 --actor-games-at-once 32 --actor-playouts 64
  --actor-max-plies 250 --trainer-steps 200 --trainer-batch 256 --trainer-lr 0.001
  --gate-games 30 --gate-nodes 64 --gate-eval-games 30 --no-progress"
for precision in fp32 int8-static; do
  run="$RUNS/sp-$precision"
  if [ -f "$run/config.json" ]; then
    engine selfplay --resume "$run" --no-progress
  else
    engine selfplay --run "$run" --init "$RUNS/start-32x4.pt" $COMMON --inference-precision "$precision"
  fi || exit 1
done

best() { python -c "import json,sys; s=json.load(open('$1/state.json')); print('$1/nets/gen-%03d.pt' % s['best'])"; }
FP32=$(best "$RUNS/sp-fp32"); INT8=$(best "$RUNS/sp-int8-static"); START="$RUNS/start-32x4.pt"
GATE=(--nodes 64 --games 100 --suite none --engine-cmd "python -m engine" --option Threads=1 --quiet)
engine gate --candidate "$INT8" --candidate-name int8-data --baseline "$FP32" --baseline-name fp32-data \
    "${GATE[@]}" --out "$RUNS/final-int8-vs-fp32"
engine gate --candidate "$FP32" --candidate-name fp32-data --baseline "$START" --baseline-name start \
    "${GATE[@]}" --out "$RUNS/final-fp32-vs-start"
engine gate --candidate "$INT8" --candidate-name int8-data --baseline "$START" --baseline-name start \
    "${GATE[@]}" --out "$RUNS/final-int8-vs-start"
python docs/selfplay/compare_runs.py docs/selfplay/runs.png "$RUNS/sp-fp32" "$RUNS/sp-int8-static"
