#!/usr/bin/env bash
# The population figures on a GPU, in one go: the engine against K (benchmarks.population)
# and the default job one trial at a time against --population K (benchmarks.population_study).
#
#   bash benchmarks/gpu.sh OUT [--quick] [population_study options, e.g. --seeds 0 1 2]
#
# Runs on Keras' JAX backend (TensorFlow need not be installed). Each benchmark writes its
# section of reports/benchmarks.md and its JSON; both are copied to OUT as they are written, so
# what finished survives a run cut short. The job one trial at a time is the slow part on a
# GPU (model.fit, one network per epoch): the sampler seeds decide the time (default: 0).
set -euo pipefail
out=${1:?usage: bash benchmarks/gpu.sh OUT [--quick] [population_study options]}
shift
quick=()
if [ "${1:-}" = "--quick" ]; then quick=(--quick); shift; fi
study=("$@")
[ ${#study[@]} -gt 0 ] || study=(--seeds 0)
export KERAS_BACKEND=jax
mkdir -p "$out"
report=reports/benchmarks.md
keep() { cp "$report" reports/benchmarks-population*.json "$out"/ 2>/dev/null || true; }
trap keep EXIT

population_json=reports/benchmarks-population-gpu.json
study_json=reports/benchmarks-population-study-gpu.json
if [ ${#quick[@]} -gt 0 ]; then
    population_json=reports/benchmarks-population-gpu-quick.json
    study_json=reports/benchmarks-population-study-gpu-quick.json
fi
python -m benchmarks.population "${quick[@]}" --report "$report" --json "$population_json"
keep
python -m benchmarks.population_study "${quick[@]}" "${study[@]}" --report "$report" \
    --json "$study_json"
