#!/bin/bash
# The GPU screen of benchmarks/utility.py's variants on a machine with many cores and one CUDA GPU: one shared
# dataset, then every (seed, variant) as its own process; each result is copied to OUTDIR as it lands.
# Usage: bash benchmarks/utility_device.sh OUTDIR VARIANT...
set -u
out=${1:?output folder}; shift
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 PYTHONPATH=${PYTHONPATH:-}:$PWD/src:$PWD
nvidia-smi -L
python3 -c "from pathlib import Path; from benchmarks.quality import make_dataset; from layergan.pipeline import PROFILES; make_dataset(Path('/tmp/utility-data'), PROFILES['benchmark'])" || exit 1
mkdir -p /tmp/utility-logs
start=$(date +%s)
results=benchmarks/results/utility-variants-cuda
for seed in 0 1 2; do
  for variant in "$@"; do
    (python3 -m benchmarks.utility --seeds $seed --variants $variant --data /tmp/utility-data/prepared --no-table \
      > /tmp/utility-logs/$variant-$seed.log 2>&1; cp $results/$variant-seed-$seed.json $out/ 2>/dev/null;
     echo "$variant seed $seed: $(( $(date +%s) - start )) s") &
  done
done
wait
tail -n 3 /tmp/utility-logs/*.log
tar czf $out/utility-logs.tgz /tmp/utility-logs
