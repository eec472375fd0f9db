#!/usr/bin/env bash
# The GPU-machine run that produced the shipped nets (see nets/README.md), as one script.
#
# Run from the repository root on a CUDA machine with PyTorch, Cython and numpy, with
#   data/sf3k          games generated here on 2 cores (engine datagen ... --seed 1)
#   .devcarry/         stockfish.xz (Debian's Stockfish 15.1 binary) and python-chess's package
# and OUT set to a folder for the results. Phases:
#   1. build the Cython extensions;
#   2. more training games with Stockfish on the machine's many cores (--seed 2, time-boxed);
#   3. train two sizes at once on the GPU on all games, time-boxed, bf16 autocast;
#   4. CUDA checks of the trained net: fp32 vs AMP fp16 agreement and throughput.
set -u -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/.devcarry:$PWD"
DATAGEN_SECONDS=${DATAGEN_SECONDS:-200}
TRAIN_SECONDS=${TRAIN_SECONDS:-200}
WORKERS=${WORKERS:-$(( $(nproc) - 2 ))}
LOG="$OUT/log"
mkdir -p "$OUT/runs"
exec > >(tee "$LOG") 2>&1
date; nvidia-smi --query-gpu=name,memory.total --format=csv; nproc

xz -d -c .devcarry/stockfish.xz > /tmp/stockfish && chmod +x /tmp/stockfish
echo "uci" | timeout 10 /tmp/stockfish | grep -m1 "^id name" || { echo "stockfish does not run"; exit 1; }
python3 setup.py build_ext --inplace -j 8 > "$OUT/runs/build.log" 2>&1 || { tail -30 "$OUT/runs/build.log"; exit 1; }
echo "built $(date)"

python3 -m engine.cli datagen --out data/gpu3k --games 1000000 --workers "$WORKERS" --nodes 3000 \
    --seed 2 --stockfish /tmp/stockfish --shard-games 50 --time-limit "$DATAGEN_SECONDS" --no-progress
pkill -f /tmp/stockfish
tar czf "$OUT/gpu3k.tgz" data/gpu3k
echo "datagen done $(date)"

trainers=()
for arch in 64x6-se4 128x10-se4; do
    python3 -m engine.cli train --data data/sf3k data/gpu3k --arch "$arch" --steps 40000 --batch 1024 \
        --lr 2e-3 --seed 0 --time-limit "$TRAIN_SECONDS" --eval-every 500 --log-every 100 \
        --loader-workers 6 --restart --run-dir "/tmp/run-$arch" --out "$OUT/net-$arch.pt" --no-progress \
        > "$OUT/runs/train-$arch.log" 2>&1 &
    trainers+=($!)
done
wait "${trainers[@]}"  # a plain `wait` would also wait for the tee above
for arch in 64x6-se4 128x10-se4; do
    tail -3 "$OUT/runs/train-$arch.log"
    cp "/tmp/run-$arch/metrics.csv" "$OUT/runs/metrics-$arch.csv"
    cp "/tmp/run-$arch/curves.png" "$OUT/runs/curves-$arch.png"
done
echo "training done $(date)"

python3 - "$OUT/net-64x6-se4.pt" <<'EOF'
import sys
import numpy as np
from engine.nn.evaluator import load_evaluator
from engine.nn.positions import generate_positions
from cython_ext.encoding import encode_batch
planes = encode_batch(generate_positions(2048, seed=7))
fp32 = load_evaluator(sys.argv[1], "fp32", "cuda")
amp = load_evaluator(sys.argv[1], "amp", "cuda")
print("cuda fp32:", fp32.describe(), "| amp:", amp.describe())
(p32, w32), (p16, w16) = fp32.evaluate(planes), amp.evaluate(planes)
print(f"AMP fp16 vs fp32 on CUDA, 2048 positions: top-1 agreement {np.mean(p32.argmax(1) == p16.argmax(1)):.4f}, "
      f"max |policy logit diff| {np.abs(p32 - p16).max():.4f}, max |WDL diff| {np.abs(w32 - w16).max():.4f}")
EOF
python3 -m engine.cli netbench --net "$OUT/net-64x6-se4.pt" --device cuda --precisions fp32,amp \
    --batches 32,256,1024 --seconds 1
cd "$OUT" && tar czf runs.tgz runs && rm -r runs
date
