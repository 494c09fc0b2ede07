#!/usr/bin/env bash
# The measured tables of docs/exercises.md: each exercise's variants at lab
# size, then one compare table per exercise, in Markdown.
#
#   bash bench/exercise_tables.sh                 # all ten, into runs/exercise-tables/
#   bash bench/exercise_tables.sh OUT 6 8         # exercises 6 and 8 only, into OUT/
#   SEEDS="1 2 3 4 5" bash bench/exercise_tables.sh OUT 1   # exercise 1 over five seeds
#   python bench/exercise_drift.py 1              # rerun one table, report how far docs/exercises.md drifted
#
# Exercises 1 to 5 run every variant with each of SEEDS (default 1 2 3), so
# that an ordering can be read across seeds, not from one; exercise 6 (the
# slow no-pooling network) runs one seed, 7, 8 and 10 their own seeds.
# Lab size (each script's --lab): the chapter's networks and settings, on less
# data and fewer epochs than the chapter's full runs, so that all ten
# exercises take about an hour on 2 CPU cores (the full runs would take a
# day). Every run is --deterministic on the project's stand-in data
# (Chapter_2_1 --offline; the steering scripts' lane simulator). A finished
# run is kept and not run again, so the script picks up where it was stopped.
# The tables go to OUT/tables.md; each run's console to OUT/exercise-N/<run>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
SEEDS=${SEEDS:-1 2 3}
OUT=${1:-runs/exercise-tables}
shift || true
ONLY=" ${*:-1 2 3 4 5 6 7 8 9 10} "

AE="--offline --deterministic --lab"                       # 2_1: 6,000 of 60,000 digits, 5 of 50 epochs
CAR="--deterministic --lab"                                # 2_2: 2,000 of 8,000 frames, a 30 s drive
CAR6="--deterministic --lab --sim-frames 1500 --epochs 4"  # exercise 6: Chapter_2_3's lab size for both
RPS="--deterministic --lab"                                # 2_5

run() {  # run EXERCISE NAME SCRIPT ARGS...: one variant, unless it has already finished
  local dir="$OUT/exercise-$1/$2" script=$3
  shift 3
  mkdir -p "$(dirname "$dir")"
  if [ -f "$dir/metrics.json" ]; then return; fi
  echo "exercise ${dir#"$OUT"/exercise-}: $PY $script $*" >&2
  "$PY" "$script" "$@" --run-dir "$dir" > "$dir.log" 2>&1 || { echo "failed: see $dir.log" >&2; FAILED=$((FAILED + 1)); }
}
FAILED=0
same() {  # same EXERCISE NAME FROM: the chapter's run of another exercise, copied (deterministic: it would repeat)
  local dir="$OUT/exercise-$1/$2" from="$OUT/exercise-$3/$2"
  mkdir -p "$OUT/exercise-$1"
  if [ ! -f "$dir/metrics.json" ] && [ -f "$from/metrics.json" ]; then rm -rf "$dir"; cp -r "$from" "$dir"; fi
}
wants() { [[ "$ONLY" == *" $1 "* ]]; }

seeded() {  # seeded EXERCISE NAME SCRIPT ARGS...: one variant for each of SEEDS, NAME-seed-S
  local n=$1 name=$2
  shift 2
  for seed in $SEEDS; do run "$n" "$name-seed-$seed" "$@" --seed "$seed"; done
}
filters_and_kernel() {  # EXERCISE SCRIPT MORE FEWER ARGS...: the chapter, more and fewer filters, 5x5 kernels
  local n=$1 script=$2 more=$3 fewer=$4
  shift 4
  seeded "$n" chapter "$script" "$@"
  seeded "$n" "filters-${more//,/-}" "$script" "$@" --filters "$more"
  seeded "$n" "filters-${fewer//,/-}" "$script" "$@" --filters "$fewer"
  seeded "$n" kernel-5 "$script" "$@" --kernel-size 5
}

if wants 1; then
  filters_and_kernel 1 Chapter_2_1.py 32,16,16 8,4,4 $AE
fi
if wants 2; then
  for seed in $SEEDS; do same 2 "chapter-seed-$seed" 1; done
  seeded 2 chapter Chapter_2_1.py $AE
  seeded 2 pooling-ttf Chapter_2_1.py $AE --pooling true,true,false
  seeded 2 pooling-tff Chapter_2_1.py $AE --pooling true,false,false
fi
if wants 3; then
  filters_and_kernel 3 Chapter_2_2.py 16,32,64 4,8,16 $CAR
fi
if wants 4; then
  for seed in $SEEDS; do same 4 "chapter-seed-$seed" 3; done
  seeded 4 chapter Chapter_2_2.py $CAR
  seeded 4 strides-2 Chapter_2_2.py $CAR --strides 2
fi
if wants 5; then
  for seed in $SEEDS; do same 5 "chapter-seed-$seed" 3; done
  seeded 5 chapter Chapter_2_2.py $CAR
  seeded 5 pool-3 Chapter_2_2.py $CAR --pool-size 3
  seeded 5 pool-4 Chapter_2_2.py $CAR --pool-size 4
fi
if wants 6; then
  run 6 chapter_2_2 Chapter_2_2.py $CAR6
  run 6 chapter_2_3 Chapter_2_3.py --deterministic --lab
  run 6 no-pooling Chapter_2_3.py --deterministic --lab --no-pooling
  run 6 no-pooling-8-epochs Chapter_2_3.py --deterministic --lab --no-pooling --epochs 8
fi
if wants 7; then
  for seed in 1 2 3; do
    for rate in 0 0.2 0.5; do
      run 7 "dropout-$rate-seed-$seed" Chapter_2_2.py $CAR --seed $seed --dropout $rate
    done
  done
fi
if wants 8; then
  for seed in 1 2 3; do
    run 8 "chapter-seed-$seed" Chapter_2_4.py --deterministic --seed $seed
    run 8 "units-128-seed-$seed" Chapter_2_4.py --deterministic --seed $seed --units 128
    run 8 "seq-3-features-seed-$seed" Chapter_2_4.py --deterministic --seed $seed --seq-length 3 --window-as features
    run 8 "seq-3-seed-$seed" Chapter_2_4.py --deterministic --seed $seed --seq-length 3
    run 8 "stateful-seed-$seed" Chapter_2_4.py --deterministic --seed $seed --stateful --units 50 --epochs 300
    run 8 "full-batch-seed-$seed" Chapter_2_4.py --deterministic --seed $seed --batch-size 25 --units 16 --epochs 5000
  done
fi
if wants 9; then
  run 9 chapter Chapter_2_4.py --deterministic
  run 9 letters-5 Chapter_2_4.py --deterministic --predict-letters 5
  run 9 seq-3-letters-5 Chapter_2_4.py --deterministic --seq-length 3 --predict-letters 5
  run 9 stateful-letters-5 Chapter_2_4.py --deterministic --stateful --units 50 --epochs 300 --predict-letters 5
fi
if wants 10; then
  for seed in 1 2 3; do
    run 10 "units-64-64-64-seed-$seed" Chapter_2_5.py $RPS --seed $seed
    run 10 "units-128-32-16-seed-$seed" Chapter_2_5.py $RPS --seed $seed --lstm-units 128,32,16
  done
fi

{
  echo "Measured with: bash bench/exercise_tables.sh $OUT ${*:-}"
  echo "Machine: $(nproc) CPU cores, $("$PY" -c 'import platform; print(platform.processor() or platform.machine())'); $(date -u +%Y-%m-%d)"
  for n in $ONLY; do
    [ -d "$OUT/exercise-$n" ] || continue
    echo
    echo "## Exercise $n"
    echo
    "$PY" -m chapter2.compare "$OUT/exercise-$n" --markdown --figure "$OUT/exercise-$n/curves.png"
  done
} > "$OUT/tables.md"
echo "tables: $OUT/tables.md" >&2
[ "$FAILED" -eq 0 ] || { echo "$FAILED run(s) failed" >&2; exit 1; }
