#!/usr/bin/env bash
# The training engine's checks on a CUDA machine, in one go (a lent GPU is short-lived):
#   1. a short CUDA run through the CLI (the CUDA code path works, rows and weights are written)
#   2. d2l's full run (VGG-11 ratio 4, 224, batch 128, lr 0.05, 10 epochs) with our engine: accuracy, wall time
#   3. the benchmark: d2l's loop and ours, one whole epoch each, on the same card; then our variants
#   4. the memory estimate against the CUDA allocator's measured peak; the Train page's speed measurement
#   5. a profile of our steps, and torch.compile
#   6. ours with torch.compile, in each mode
# Usage: bash benchmarks/gpu_checks.sh DATA_DIR [OUT_DIR]    (DATA_DIR: the four Fashion-MNIST files)
#        SECTIONS="3 6" bash benchmarks/gpu_checks.sh ...    (only some sections; all take ~9 minutes on an H100)
set -u
DATA=${1:?usage: gpu_checks.sh DATA_DIR [OUT_DIR]}
OUT=${2:-${OUT:-/tmp/gpu_checks}}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
PY=${PYTHON:-python3}
LOG=$OUT/checks.log
say() { echo "== $* ($(date +%T))" | tee -a "$LOG"; }
SECTIONS=${SECTIONS:-1 2 3 4 5 6}
want() { [[ " $SECTIONS " == *" $1 "* ]]; }

say environment
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 | tee -a "$LOG"
$PY -c "import sys, torch, torchvision; print(sys.version.split()[0], torch.__version__, torchvision.__version__, torch.cuda.get_device_name(), torch.cuda.get_device_capability())" 2>&1 | tee -a "$LOG"

if want 1; then
say "1. short CUDA run"
$PY -m vgg_core train --preset d2l --device cuda --epochs 1 --max-train-examples 5120 --max-test-examples 1000 \
    --seed 0 --data-dir "$DATA" --run-dir "$OUT/smoke" 2>>"$LOG" | tee -a "$LOG"
echo "exit ${PIPESTATUS[0]}; rows $(wc -l <"$OUT/smoke/metrics.jsonl"); $(tail -1 "$OUT/smoke/metrics.jsonl")" | tee -a "$LOG"
$PY -c "from vgg_core.runs import load_model; m, s, e = load_model('$OUT/smoke'); print('model.pt loads:', s.ratio, e['steps'])" 2>&1 | tee -a "$LOG"
rm -rf "$OUT/smoke"
fi

if want 2; then
say "2. d2l's full run with our engine (10 epochs)"
t0=$(date +%s.%N)
$PY -m vgg_core train --preset d2l --device cuda --seed 0 --data-dir "$DATA" --run-dir "$OUT/full" 2>>"$LOG" | tee -a "$LOG"
t1=$(date +%s.%N)
echo "process wall time: $($PY -c "print(round($t1 - $t0, 1))") s" | tee -a "$LOG"
grep '"eval"' "$OUT/full/metrics.jsonl" | tee -a "$LOG"
rm -f "$OUT/full/model.pt"
fi

if want 3; then
say "3. benchmark: d2l's loop and ours, one epoch each"
$PY benchmarks/train_throughput.py --device cuda --batches 0 --warmup 20 --data-dir "$DATA" 2>>"$LOG" | tee "$OUT/bench.txt" | tee -a "$LOG"
for variant in "--log-every 10" "--no-amp" "--no-amp --log-every 10"; do
    say "3b. ours $variant"
    $PY benchmarks/train_throughput.py --device cuda --batches 0 --warmup 20 --data-dir "$DATA" --skip-d2l $variant 2>>"$LOG" | grep -v '^{' | tee -a "$LOG"
done
fi

if want 4; then
say "4. memory estimate against the measured peak"
$PY - "$DATA" <<'EOF' 2>&1 | tee -a "$LOG"
import sys, torch
from vgg_core.data import load_fashion_mnist
from vgg_core.estimate import estimate_training
from vgg_core.spec import preset
from vgg_core.train import TrainConfig, fit, make_optimizer, prepare_model
dev = torch.device("cuda")
for spec, batch in ((preset("d2l"), 128), (preset("d2l"), 256), (preset("vgg11").replace(input_size=224), 64)):
    cfg = TrainConfig(batch_size=batch, epochs=1, max_train_examples=batch * 3, device="cuda", seed=0)
    data = load_fashion_mnist(sys.argv[1], dev).subset(cfg.max_train_examples, 1)
    model, net = prepare_model(spec, cfg, dev)
    opt = make_optimizer(model, cfg, dev)
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    fit(net, data, spec, cfg, seed=0, optimizer=opt, evaluate_each_epoch=False)
    grown = torch.cuda.max_memory_allocated() - before
    est = estimate_training(spec, batch, device=dev, measure_speed=False)
    pred = est.grad_bytes + est.optimizer_bytes + est.amp_weight_bytes + est.activation_bytes + est.workspace_bytes
    print(f"ratio {spec.ratio} batch {batch}: measured peak growth {grown / 2**20:.1f} MiB, estimated {pred / 2**20:.1f} MiB, "
          f"ratio {grown / pred:.2f}; total estimate {est.total_bytes / 2**30:.2f} GiB, free {est.available_bytes / 2**30:.1f} GiB")
    del model, net, opt, data
    torch.cuda.empty_cache()
e = estimate_training(preset("d2l"), 128, device=dev)
print(f"time estimate d2l: {e.seconds_per_epoch:.1f} s/epoch (calibration {e.calibration_macs_per_sec / 1e12:.1f} TMAC/s)")
EOF
say "4b. the speed as the Train page measures it (python -m vgg_core estimate in a child process)"
$PY -c "import time; from vgg_core.launch import measure_speed; t = time.time(); r, o = measure_speed('cuda:0'); print(f'measure_speed(cuda:0): {r / 1e12:.2f} TMAC/s, {o * 1e3:.2f} ms per step, in {time.time() - t:.1f} s')" 2>&1 | tee -a "$LOG"
$PY -m vgg_core estimate --preset d2l --device cuda 2>&1 | tee -a "$LOG"
fi

if want 5; then
say "5. profile of our steps (d2l setting)"
$PY - "$DATA" <<'EOF' 2>&1 | tee "$OUT/profile.txt" | tail -40 >>"$LOG"
import sys, torch
from torch.profiler import ProfilerActivity, profile
from vgg_core.data import load_fashion_mnist
from vgg_core.speed import tune_process
from vgg_core.spec import preset
from vgg_core.train import TrainConfig, fit, make_optimizer, prepare_model
dev = torch.device("cuda"); tune_process(dev)
spec = preset("d2l")
cfg = TrainConfig(epochs=1, max_train_examples=128 * 40, device="cuda", seed=0)
data = load_fashion_mnist(sys.argv[1], dev).subset(cfg.max_train_examples, 1)
model, net = prepare_model(spec, cfg, dev)
opt = make_optimizer(model, cfg, dev)
fit(net, data, spec, cfg, seed=0, optimizer=opt, evaluate_each_epoch=False)  # warm-up, cudnn autotune
with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as p:
    r = fit(net, data, spec, cfg, seed=0, optimizer=opt, evaluate_each_epoch=False)
print(f"profiled 40 steps: {r.examples_per_sec:.0f} examples/sec (profiler on)")
print(p.key_averages().table(sort_by="cuda_time_total", row_limit=30, max_name_column_width=60))
EOF
fi

if want 6; then
for mode in default max-autotune-no-cudagraphs reduce-overhead; do
    say "6. ours with torch.compile $mode"
    $PY benchmarks/train_throughput.py --device cuda --batches 0 --warmup 20 --log-every 10 --data-dir "$DATA" --skip-d2l \
        --compile $mode 2>>"$LOG" | grep -v '^{' | tee -a "$LOG"
done
fi
say done
