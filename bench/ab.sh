#!/usr/bin/env bash
# bench/ab.sh: compare two builds of petrel-bench in interleaved pairs.
#
#   PAIRS=10 bench/ab.sh <rev-a> <rev-b> [petrel-bench flags...]
#   PAIRS=10 bench/ab.sh HEAD . --workload row4-e2e-rate --rate 32000 --duration 8s --warmup 2s
#
# A revision is anything `git rev-parse` takes; "." is the working tree as
# it is, uncommitted changes included. A_ENV and B_ENV add environment
# settings to one side (B_ENV=GOMAXPROCS=2 with the same revision twice
# compares a setting). Both builds run the same flags, in
# pairs whose order alternates (A B, B A, ...) so the machine's drift does
# not favour one side. It prints each run, then per metric the mean and
# median of both sides and in how many pairs B was better.
#
# Why: on the 2-vCPU VM the same build drifts by 30% between runs, so a
# change worth 5% is invisible in three pairs. Ten or more interleaved
# pairs and a count of the pairs B won (a sign test: 9 of 10 or better is
# unlikely by chance, p < 0.02) are what docs/benchmarks.md asks for
# before a change is kept or dropped.
set -euo pipefail

if (($# < 2)); then
	sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
fi
A=$1 B=$2
shift 2
PAIRS=${PAIRS:-10}
A_ENV=${A_ENV:-} B_ENV=${B_ENV:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/petrel-ab-XXXXXX")
trees=()
cleanup() {
	for t in "${trees[@]}"; do git -C "$ROOT" worktree remove --force "$t" >/dev/null 2>&1 || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

build() { # $1: revision, $2: output binary
	if [[ $1 == . ]]; then
		(cd "$ROOT" && go build -o "$2" ./cmd/petrel-bench)
		return
	fi
	local rev tree
	rev=$(git -C "$ROOT" rev-parse --verify "$1^{commit}")
	tree=$WORK/tree-$(basename "$2")
	git -C "$ROOT" worktree add --quiet --detach "$tree" "$rev"
	trees+=("$tree")
	(cd "$tree" && go build -o "$2" ./cmd/petrel-bench)
}

echo "== building A ($A) and B ($B)" >&2
build "$A" "$WORK/a"
build "$B" "$WORK/b"

run() { # $1: a or b, $2: pair number, then petrel-bench's flags
	local side=$1 pair=$2 probe
	shift 2
	# The host's placement of the vCPUs before the run (petrel-bench
	# --cpu-probe, a cache line's round trip in ns): a pair whose two runs
	# saw different placements compares the host, not the builds. Either
	# build may predate the flag.
	probe=$({ "$WORK/a" --cpu-probe --json || "$WORK/b" --cpu-probe --json; } 2>/dev/null |
		jq '.cross_cpu_round_trip_ns' 2>/dev/null) || probe=-
	local envs=$A_ENV
	[[ $side == b ]] && envs=$B_ENV
	# shellcheck disable=SC2086 # envs is a list of NAME=value words
	(cd "$ROOT" && env $envs "$WORK/$side" --json --report-every 1h "$@" 2>"$WORK/$side.$pair.log") >"$WORK/$side.$pair.json" ||
		{ echo "run $side of pair $pair failed:" >&2; cat "$WORK/$side.$pair.log" >&2; exit 1; }
	sync # what the run left dirty is written before the next one starts
	jq -r --arg side "$side" --arg pair "$pair" --arg probe "${probe:--}" '[$pair, $side, .sent_msgs_per_s, .publish_latency.p99_us,
		.end_to_end_latency.p50_us, .end_to_end_latency.p99_us, .consumed_msgs_per_s, (.errors // {} | length), $probe] | @tsv' \
		"$WORK/$side.$pair.json" | tee -a "$WORK/runs.tsv"
}

printf 'pair\tside\tsent/s\tpub_p99_us\te2e_p50_us\te2e_p99_us\tconsumed/s\terror_kinds\tcpu_rt_ns\n' | tee "$WORK/runs.tsv"
for ((i = 1; i <= PAIRS; i++)); do
	if ((i % 2 == 1)); then order="a b"; else order="b a"; fi
	for side in $order; do
		run "$side" "$i" "$@"
	done
done

# Summary: per metric, mean and median of each side, and the pairs B won
# (higher rates, lower latencies), among all pairs and among those whose
# two runs began in the same vCPU placement (probes within 2x).
awk -F'\t' -v A="$A" -v B="$B" -v AE="$A_ENV" -v BE="$B_ENV" '
NR == 1 { next }
{ for (c = 3; c <= 7; c++) v[$2, $1, c] = $c; probe[$2, $1] = $9; if ($1 > n) n = $1 }
function same(i,   x, y) {
	x = probe["a", i]; y = probe["b", i]
	if (x !~ /^[0-9]+$/ || y !~ /^[0-9]+$/ || x == 0 || y == 0) return 0
	return (x > y ? x <= 2 * y : y <= 2 * x)
}
function median(side, col,   i, k, arr, t, j) {
	k = 0
	for (i = 1; i <= n; i++) arr[++k] = v[side, i, col] + 0
	for (i = 2; i <= k; i++) { t = arr[i]; for (j = i - 1; j >= 1 && arr[j] > t; j--) arr[j + 1] = arr[j]; arr[j + 1] = t }
	return k % 2 ? arr[(k + 1) / 2] : (arr[k / 2] + arr[k / 2 + 1]) / 2
}
function mean(side, col,   i, s) { s = 0; for (i = 1; i <= n; i++) s += v[side, i, col]; return s / n }
END {
	split("sent/s pub_p99_us e2e_p50_us e2e_p99_us consumed/s", name, " ")
	printf "\n%d pairs; A = %s %s, B = %s %s\n", n, A, AE, B, BE
	printf "%-12s %12s %12s %12s %12s %10s %16s\n", "metric", "mean A", "mean B", "median A", "median B", "B better", "same placement"
	for (c = 3; c <= 7; c++) {
		if (mean("a", c) == 0 && mean("b", c) == 0) continue
		won = 0; k = 0; wonk = 0
		for (i = 1; i <= n; i++) {
			d = v["b", i, c] - v["a", i, c]
			better = ((c == 3 || c == 7) && d > 0) || (c > 3 && c < 7 && d < 0)
			won += better
			if (same(i)) { k++; wonk += better }
		}
		printf "%-12s %12.0f %12.0f %12.0f %12.0f %7d/%d %13d/%d\n", name[c - 2], mean("a", c), mean("b", c), median("a", c), median("b", c), won, n, wonk, k
	}
}' "$WORK/runs.tsv"
