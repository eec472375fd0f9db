#!/usr/bin/env bash
# Issue 16, measurement 4, as one prepared script for a GPU machine (the `device` tool):
# actors on the machine's CPU cores, the inference server on the GPU, fp32 vs fp16 autocast (amp),
# then int8-static on the CPU for comparison; games/hour and the time split of each.
#
# Run from the repository root, with OUT set to a folder for the results; needs PyTorch with CUDA,
# Cython, numpy, python-chess, tqdm, matplotlib (ray is not needed: the local pool is used).
# About 8 minutes: 2 rounds x 3 precisions x 60 s plus start-up.
set -u -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD"
ACTORS=${ACTORS:-$(( $(nproc) - 2 ))}
SECONDS_PER_ROUND=${SECONDS_PER_ROUND:-60}
mkdir -p "$OUT"
exec > >(tee "$OUT/log") 2>&1
date; nvidia-smi --query-gpu=name,memory.total --format=csv; nproc
python3 setup.py build_ext --inplace -j 8 > "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
python3 -m engine.cli selfplay-bench --net nets/default.pt --device cuda --precisions fp32,amp \
    --actors "$ACTORS" --games-at-once 64 --playouts 100 --max-batch 4096 \
    --seconds "$SECONDS_PER_ROUND" --rounds 2 --out "$OUT/cuda"
python3 -m engine.cli selfplay-bench --net nets/default.pt --device cpu --precisions int8-static \
    --actors "$ACTORS" --games-at-once 64 --playouts 100 --threads 2 \
    --seconds "$SECONDS_PER_ROUND" --rounds 1 --out "$OUT/cpu-int8"
date
