#!/usr/bin/env bash
# Run the paper's tables one after another, each resuming from the records already in its
# folder, within an optional time budget; optionally pack the results into one archive.
#
#   benchmarks/run_tables.sh [-d DEVICE] [-t SECONDS] [-r RESULTS] [-D DATA] [-a FILE.tgz]
#                            [-S] [-x "BENCH OPTIONS"] [TABLE...]
#
# TABLE is sr:DATASET:FACTOR (sr:Set14:4, sr:Set5:8, ...), denoise, inpaint, text-inpaint or
# holes. Default order: what the README still lists as missing, most wanted first.
#   -d DEVICE   passed to --device (default auto: the GPU when there is one)
#   -t SECONDS  stop after this long: the table running then gets SIGTERM and stops at a
#               step boundary; its finished images keep their records and the running fit
#               its saved state, so the next run resumes it
#   -r RESULTS  the results root (default benchmarks/results); copy the committed records
#               there first to resume them
#   -D DATA     the data folder (default: $DEEPPRIOR_DATA, else ../shared/data)
#   -a FILE     write FILE (.tgz) with every table folder under RESULTS at the end (records
#               and reports; with -S also the saved fit states, finished fits and tiles, tens of MB each)
#   -x OPTIONS  more options for every `deepprior bench` run, e.g. "--jobs 2" or "--quick"
# Each table's report.md is re-rendered at the end, also for a table cut short.
set -u
device=auto budget=0 results=benchmarks/results data="" archive="" more="" states=0
while getopts "d:t:r:D:a:x:Sh" opt; do
  case $opt in
    d) device=$OPTARG ;;
    t) budget=$OPTARG ;;
    r) results=$OPTARG ;;
    D) data=$OPTARG ;;
    a) archive=$OPTARG ;;
    x) more=$OPTARG ;;
    S) states=1 ;;
    *) sed -n '2,20p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
tables=("$@")
[ ${#tables[@]} -eq 0 ] && tables=(sr:Set14:4 inpaint sr:Set5:8 sr:Set14:8 denoise
                                    text-inpaint holes)
deepprior=${DEEPPRIOR:-deepprior}
start=$SECONDS
status=0

args_of() {  # TABLE -> the bench arguments and the folder name
  local t=$1
  case $t in
    sr:*:*)
      IFS=: read -r _ ds f <<<"$t"
      echo "sr --dataset $ds --factor $f|sr-$ds-x$f" ;;
    denoise) echo "denoise|denoise-CBM3D9-sigma25" ;;
    inpaint) echo "inpaint|inpaint-Heide11-50pct" ;;
    text-inpaint) echo "text-inpaint|text-inpaint" ;;
    holes) echo "holes|holes" ;;
    *) return 1 ;;
  esac
}

for t in "${tables[@]}"; do
  spec=$(args_of "$t") || { echo "run_tables: unknown table '$t'" >&2; exit 2; }
  bench_args=${spec%%|*} name=${spec##*|}
  extra=(--device "$device" --out "$results/$name")
  [ -n "$data" ] && extra+=(--data-dir "$data")
  limit=()
  if [ "$budget" -gt 0 ]; then
    left=$((budget - (SECONDS - start)))
    if [ "$left" -le 0 ]; then echo "run_tables: time is up before $t" >&2; break; fi
    limit=(timeout -s TERM "$left")
  fi
  echo "run_tables: $t -> $results/$name ($(date -u +%H:%M:%S))" >&2
  # shellcheck disable=SC2086
  "${limit[@]}" "$deepprior" bench $bench_args "${extra[@]}" $more --quiet --no-progress
  rc=$?
  if [ $rc -eq 124 ]; then
    echo "run_tables: $t stopped: the time is up (a rerun resumes it)" >&2
    status=1
  elif [ $rc -ne 0 ]; then
    echo "run_tables: $t stopped (exit $rc)" >&2
    status=1
  fi
  # The report of the records there so far (also when the table was cut short).
  # shellcheck disable=SC2086
  "$deepprior" bench report $bench_args ${more:+$(grep -o -- --quick <<<"$more")} --out "$results/$name" >/dev/null 2>&1 || true
done

if [ -n "$archive" ]; then
  skip=(--exclude quick)
  [ "$states" = 1 ] || skip+=(--exclude '*.state.pt' --exclude '*.done.pt' --exclude '*.tiles')
  tar czf "$archive" -C "$results" "${skip[@]}" . && echo "run_tables: wrote $archive" >&2
fi
exit $status
