#!/bin/sh
# The demo models the image ships: synthetic Criteo-shaped data (deploy/demo-schema.json:
# the Kaggle features with tables capped at 50k rows, so the plain baseline stays ~30 MB),
# one ROBE model (100x smaller than the tables it replaces) and the plain-table baseline,
# both exported to ONNX as OUT_DIR/robe and OUT_DIR/full.
# The Dockerfile's models stage runs this; tests/deploy run it natively with few rows.
# Usage: build-demo-models.sh OUT_DIR [ROWS]   (needs `robe` with the train and export extras)
set -eu

out=$1
rows=${2:-50000}
schema=$(dirname "$0")/demo-schema.json
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

robe data synth --schema "$schema" --rows "$rows" --seed 1 --out "$work/data"
robe train --data "$work/data" --embedding robe --compression 100 --preset kaggle \
    --seed 1 --no-progress --out "$work/run-robe"
robe train --data "$work/data" --embedding full --preset kaggle \
    --seed 1 --no-progress --out "$work/run-full"
for name in robe full; do
    robe export --checkpoint "$work/run-$name" --out "$out/$name" --formats onnx --name "$name"
done
