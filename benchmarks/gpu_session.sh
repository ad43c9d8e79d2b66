#!/usr/bin/env bash
# One GPU session in one command: speed figures and the paper's tables, all inside a time
# budget, with everything worth keeping packed into OUT.
#
#   benchmarks/gpu_session.sh OUT [BUDGET_SECONDS] [DATA]
#
# OUT     folder for the results (created): speed_cuda.json (paper net), speed_auto_cuda.json
#         (the auto presets' 32-filter net), speed_own_layers.json (deepprior's CPU layers
#         on the GPU), speed_cudagraphs.json, speed_concurrent.txt,
#         tables.tgz (records and reports of every table folder), logs.tgz and env.txt
# BUDGET  seconds for the whole script (default 560); the tables get what the speed runs
#         leave, less 25 s for packing. A table cut short keeps its finished images.
# DATA    the data folder (default: $DEEPPRIOR_DATA, else ../shared/data); the paper's
#         numbers are read from DATA/../reference (else the records lack the paper columns)
#
# On a lent machine that sees only the repository: copy ../shared/data and
# ../shared/reference into an ignored folder (.gpu/data, .gpu/reference), carry it, and pass
# .gpu/data. Between two calls copy the records back first: a new call's working tree
# replaces the records written by the last one (fit states, being ignored, stay).
# DEVICE (default cuda), SPEED_SIZES (default "--size 256 --size 512") and SPEED_ITERS
# (default 30) change where and how much it runs, e.g. for a dry run on a CPU.
# Runs from the repository root, with or without an installed deepprior: without one it
# uses src/ and installs any wheels in .gpu/whl (e.g. pypng) into /tmp/site first.
# The tables run side by side, about one fit process per CPU core: one fit's step is bound
# by kernel launches (about 20 ms whatever the size up to 512²), so fits in separate
# processes add up (four at once ran at the speed of one each).
set -u
out=${1:?usage: gpu_session.sh OUT [BUDGET_SECONDS] [DATA]}
budget=${2:-560}
data=${3:-${DEEPPRIOR_DATA:-../shared/data}}
mkdir -p "$out" /tmp/gpu_logs
start=$SECONDS
left() { echo $((budget - (SECONDS - start))); }
device=${DEVICE:-cuda}
sizes=${SPEED_SIZES:---size 256 --size 512}
iters=${SPEED_ITERS:-30}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 DEEPPRIOR_DATA=$data

py=${PYTHON:-python3}
if ! command -v deepprior >/dev/null; then
  if ls .gpu/whl/*.whl >/dev/null 2>&1; then
    $py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .gpu/whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
  fi
  export PYTHONPATH=$PWD/src:${PYTHONPATH:-}
  mkdir -p /tmp/bin
  printf '#!/bin/sh\nexec %s -m deepprior "$@"\n' "$py" >/tmp/bin/deepprior
  chmod +x /tmp/bin/deepprior
  export PATH=/tmp/bin:$PATH
fi

{
  date -u; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  $py -c 'import sys, torch; print(sys.version.split()[0], torch.__version__,
torch.cuda.get_device_name(0), "bf16", torch.cuda.is_bf16_supported())'
  nproc; git rev-parse --short HEAD
} >"$out/env.txt" 2>&1
cat "$out/env.txt"
deepprior --version || { echo "gpu_session: deepprior does not start" >&2; exit 1; }

# 1. Speed, alone on the GPU: the fp32 eager baseline against the default path, for the
#    paper's SR net and for the 32-filter net of the auto presets; then CUDA graphs.
echo "== speed ($(left) s left)"
timeout 150 deepprior speed --device "$device" $sizes --iters "$iters" --warmup 5 \
  --configs baseline,fp32-cl,bf16-cl,deepprior --report "$out/speed_cuda.json"
timeout 60 deepprior speed --device "$device" --preset auto $sizes --iters "$iters" \
  --warmup 5 --configs baseline,deepprior --report "$out/speed_auto_cuda.json"
# Four fits at once: does sharing the GPU give more steps per second in total?
echo "== 4 concurrent speed runs ($(left) s left)"
for i in 1 2 3 4; do
  timeout 60 deepprior speed --device "$device" $sizes --iters "$iters" --warmup 5 \
    --configs deepprior >"/tmp/gpu_logs/conc$i.txt" 2>&1 &
done
wait
for i in 1 2 3 4; do echo "## process $i"; cat "/tmp/gpu_logs/conc$i.txt"; done \
  >"$out/speed_concurrent.txt"
grep -h "deepprior" "$out/speed_concurrent.txt" | head -8
# The CPU's own padding/upsampling kernels on the GPU (more launches) against ATen's, the
# GPU default: the step-time difference that choice makes.
DEEPPRIOR_NATIVE_LAYERS=0 timeout 60 deepprior speed --device "$device" $sizes \
  --iters "$iters" --warmup 5 --configs deepprior --report "$out/speed_own_layers.json"
# torch.compile with CUDA graphs (one replay per step); its compile time is not counted.
# (Skipped on a CPU, where compiling this net takes minutes and there are no CUDA graphs.)
echo "== CUDA graphs ($(left) s left)"
if [ "$device" != cpu ]; then
  timeout 150 deepprior speed --device "$device" $sizes --iters $((iters * 3)) --warmup 10 \
    --configs deepprior,cudagraphs --report "$out/speed_cudagraphs.json"
fi

# 2. The tables, side by side.
t=$(( $(left) - 25 ))
[ "$t" -lt 30 ] && t=30  # a late start still gives each table a short run
echo "== tables for $t s"
run() {  # LOG TABLE... with the bench options in $x
  benchmarks/run_tables.sh -d "$device" -t "$t" -D "$data" -x "$x" "${@:2}" \
    >"/tmp/gpu_logs/$1.log" 2>&1
}
x="--jobs 3" run sr4 sr:Set14:4 &
x="--jobs 4" run sr8 sr:Set5:8 sr:Set14:8 &
x="--jobs 3" run denoise denoise &
x="--jobs 4" run inpaint inpaint &
x="--jobs 1" run other text-inpaint holes &
wait
nvidia-smi >/tmp/gpu_logs/nvidia-smi.txt 2>&1

# 3. Pack: records and reports (no fit states), and the logs.
tar czf "$out/tables.tgz" --exclude '*.state.pt' --exclude '*.done.pt' --exclude '*.tiles' \
  --exclude quick -C benchmarks/results \
  $(cd benchmarks/results && ls -d sr-Set14-x4 sr-Set5-x8 sr-Set14-x8 denoise-CBM3D9-sigma25 \
    inpaint-Heide11-50pct text-inpaint holes 2>/dev/null)
tar czf "$out/logs.tgz" -C /tmp gpu_logs
tail -n 4 /tmp/gpu_logs/*.log
echo "gpu_session: done in $((SECONDS - start)) s"
