#!/usr/bin/env bash
# `exprjit map` beside mawk on the same job (issue 13, docs/performance.md):
# 2,000,000 rows of two columns, computing the benchmark formula and
# printing x,y,r. mawk prints 17 significant digits; exprjit prints the
# shortest digits that read back to the same number.
#
#   bash benches/map_vs_mawk.sh [ROWS]     (needs mawk and python3)
#
# Prints each run's wall-clock and user time and the median rows/s of each.
set -euo pipefail
rows=${1:-2000000}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
exprjit="$here/target/release/exprjit"
python3 - "$rows" "$work/xy.csv" <<'PY'
import random, sys
random.seed(1)
rows, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    f.write("x,y\n")
    for _ in range(rows):
        f.write(f"{random.uniform(-100, 100)!r},{random.uniform(-100, 100)!r}\n")
PY
formula='sqrt(x*x+y*y)*sin(x)+cos(y)/(1+x^2)'
run() { /usr/bin/time -f "%e %U" "$@" > /dev/null 2>> "$work/times"; tail -1 "$work/times"; }
declare -a ej mk
for i in 1 2 3 4 5; do
  ej+=("$(run "$exprjit" map -e "r = $formula" "$work/xy.csv")")
  mk+=("$(run mawk -F, "BEGIN{CONVFMT=\"%.17g\"} NR==1{print \$0\",r\"; next} {x=\$1+0; y=\$2+0; print \$0 \",\" $formula}" "$work/xy.csv")")
  echo "run $i: exprjit ${ej[-1]}  mawk ${mk[-1]}  (wall s, user s)"
done
median() { printf '%s\n' "$@" | cut -d' ' -f1 | sort -g | sed -n 3p; }
e=$(median "${ej[@]}"); m=$(median "${mk[@]}")
python3 -c "r=$rows; e=$e; m=$m; print(f'median: exprjit {r/e/1e6:.2f} M rows/s, mawk {r/m/1e6:.2f} M rows/s: {m/e:.1f}x')"
