#!/usr/bin/env bash
# The device check, as one script: the CUDA kernel tests, then `robe bench lookup` and
# `robe bench model` on the device (fp32, bf16 and fp16 on CUDA: autocast for the torch
# runtimes; fp32, bf16, int8 on CPU), then (SERVICE=1, the default) `robe bench service`
# serving on the device: JSON under bench/results/, markdown tables printed at the end.
#
#   bench/gpu_check.sh                       # on a GPU machine (DEVICE=cuda)
#   DEVICE=cpu QUICK=1 bench/gpu_check.sh    # the same path on CPU, small, here
#
# PYTHON picks the interpreter (default .venv/bin/python, else python3); it needs the
# project's dependencies, with a CUDA torch and triton on a GPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
DEVICE=${DEVICE:-cuda}
OUT_DIR=${OUT_DIR:-bench/results}
if [ "$DEVICE" = cuda ]; then
  TAG=${TAG:-$("$PYTHON" -c 'import torch; print(torch.cuda.get_device_name(0).split()[1].lower())')}
  # An 80 GB GPU holds the plain tables twice (ours and FBGEMM's copy) at this cap.
  LOOKUP_ARGS=${LOOKUP_ARGS:---plain-budget-gb 24}
  PRECISIONS=${PRECISIONS:-fp32,bf16,fp16}
else
  TAG=${TAG:-cpu-check}
  LOOKUP_ARGS=${LOOKUP_ARGS:-}
  PRECISIONS=${PRECISIONS:-fp32,bf16,int8}
fi
MODEL_ARGS=${MODEL_ARGS:-}
SERVICE=${SERVICE:-1}
# Serving cost does not depend on how long the models trained: few rows, built here.
SERVICE_ROOT=${SERVICE_ROOT:-models/device-check}
SERVICE_ROWS=${SERVICE_ROWS:-20000}
SERVICE_ARGS=${SERVICE_ARGS:---rounds 1 --seconds 2}
if [ -n "${QUICK:-}" ]; then
  LOOKUP_ARGS="$LOOKUP_ARGS --shapes criteo-kaggle --batches 256 --ids zipf --repeats 3 --plain-budget-gb 0.25"
  MODEL_ARGS="$MODEL_ARGS --batch 256 --embeddings robe --runtimes eager --repeats 3"
  SERVICE_ROWS=2000
  SERVICE_ARGS="--rounds 1 --seconds 0.5 --concurrency 1,16"
fi
mkdir -p "$OUT_DIR"

echo "== kernel tests ($DEVICE)"
"$PYTHON" -m pytest tests/robe/ops -q -p no:cacheprovider -o addopts=-ra

echo "== robe bench lookup --device $DEVICE"
# shellcheck disable=SC2086  # the ARGS are word lists on purpose
"$PYTHON" -m robe.cli.main bench lookup --device "$DEVICE" \
  --out "$OUT_DIR/lookup-$TAG.json" $LOOKUP_ARGS

echo "== robe bench model --device $DEVICE --precisions $PRECISIONS"
# shellcheck disable=SC2086
"$PYTHON" -m robe.cli.main bench model --device "$DEVICE" --precisions "$PRECISIONS" \
  --out "$OUT_DIR/model-$TAG.json" $MODEL_ARGS

if [ "$SERVICE" = 1 ]; then
  echo "== robe bench service --device $DEVICE"
  "$PYTHON" -m service.default_model --root "$SERVICE_ROOT" --rows "$SERVICE_ROWS" --full
  RUNTIMES=torchscript
  if [ "$DEVICE" = cpu ] || "$PYTHON" -c 'import onnxruntime as o, sys
sys.exit("CUDAExecutionProvider" not in o.get_available_providers())'; then
    RUNTIMES=onnx,$RUNTIMES
  fi
  # shellcheck disable=SC2086
  "$PYTHON" -m robe.cli.main bench service --device "$DEVICE" --runtimes "$RUNTIMES" \
    --model "robe=$SERVICE_ROOT/robe" --model "full=$SERVICE_ROOT/full" --no-readme \
    --out "$OUT_DIR/service-$TAG.json" $SERVICE_ARGS
fi
"$PYTHON" -m robe.cli.main bench table "$OUT_DIR/lookup-$TAG.json" "$OUT_DIR/model-$TAG.json"
