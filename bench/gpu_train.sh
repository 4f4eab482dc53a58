#!/usr/bin/env bash
# Issue 3's GPU check: `digitcli train` on the full MNIST export with Keras's JAX backend,
# three seeds with the default recipe, then one run without augmentation (the compute floor).
# TensorFlow is not needed (the ONNX export then fails with a warning; predict rebuilds it).
#   bench/gpu_train.sh MNIST_NPZ OUT_DIR
set -euo pipefail
source=$1
out=$2
work=${WORK:-/tmp/digitcli-gpu}
mkdir -p "$out" "$work"
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1
python3 -m digitcli export --source "$source" --data-dir "$work/data"
run() {  # NAME ARGS...: one training run, its log and history kept
    local name=$1
    shift
    echo "== $name: digitcli train $*"
    python3 -m digitcli train --data-dir "$work/data" --force --weights "$work/$name.h5" "$@"
    cp "$work/$name.history.json" "$out/"
}
{
    for seed in 0 1 2; do run "seed$seed" --seed "$seed"; done
    run no-augment --seed 0 --no-augment
} 2>&1 | tee "$out/gpu_train.log"
cp "$work/seed0.history.png" "$out/"
