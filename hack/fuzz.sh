#!/usr/bin/env bash
# Runs every Go native fuzz target of the repository (func FuzzXxx(f *testing.F)),
# one after another, each for FUZZTIME, and stops at the first failure.
#
#   bash hack/fuzz.sh                  # every target, 10s each
#   FUZZTIME=60s bash hack/fuzz.sh     # longer
#   FUZZ_PARALLEL=2 ...                # fuzzing workers per target (default 1)
#   FUZZMINIMIZETIME=5s ...            # -fuzzminimizetime (Go's default is 60s,
#                                      # which a short run would spend minimizing)
#   FUZZ_PACKAGES="./internal/soracom" # only these packages
#   FUZZ_VERBOSE=1 ...                 # show go test's output of passing targets too
#
# Targets are found with `go test -list '^Fuzz'` in every package whose test
# files declare a func Fuzz…, so new targets are picked up without editing
# this script. Packages whose TestMain starts the control plane are fuzzed
# only when internal/testenv leaves fuzzing workers without one (see
# seeds_only below); until then their targets run their seed corpora.
#
# A failing input is written by go test to the package's
# testdata/fuzz/<target>/ directory; commit it (it then runs with every plain
# `go test`) together with the fix. The seed corpora there run as regular
# tests too. A run that fails only with Go 1.26's spurious "context deadline
# exceeded" at the end of -fuzztime (golang/go#75804, fixed in Go 1.27), with
# no failing input written, is tried again (up to three runs).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

fuzztime=${FUZZTIME:-10s}
parallel=${FUZZ_PARALLEL:-1}
minimizetime=${FUZZMINIMIZETIME:-5s}
start=$SECONDS

if [[ -n ${FUZZ_PACKAGES:-} ]]; then
	read -r -a pkgs <<<"$FUZZ_PACKAGES"
else
	pkgs=()
	while IFS= read -r dir; do
		if grep -qsE '^func Fuzz[A-Za-z0-9_]*\(' "$dir"/*_test.go; then
			pkgs+=("./${dir#"$PWD"/}")
		fi
	done < <(go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.Dir}}{{end}}' ./... | sed '/^$/d')
fi
if ((${#pkgs[@]} == 0)); then
	echo "fuzz: no package declares a fuzz target" >&2
	exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# A package whose TestMain starts the control plane (testenv.Main) is fuzzed
# only once internal/testenv skips it in fuzzing workers (-test.fuzzworker):
# the fuzzer stops a worker with SIGINT and a second later SIGKILL, a control
# plane the worker started outlives it holding the worker's pipes, and go
# test then waits for them forever. Until then such a package runs its fuzz
# targets' seed corpora only.
seeds_only() {
	grep -qsE 'testenv\.Main\(' "$1"/*_test.go && ! grep -qs 'fuzzworker' internal/testenv/*.go
}

n=0
for pkg in "${pkgs[@]}"; do
	if seeds_only "$pkg"; then
		# One run (one control plane) for all the package's targets; -v names them.
		if ! go test -count=1 -v -run '^Fuzz' "$pkg" >"$log" 2>&1; then
			cat "$log" >&2
			echo "fuzz $pkg: a fuzz target FAILED on its seed corpus (f.Add and testdata/fuzz/<target>/)" >&2
			exit 1
		fi
		[[ -n ${FUZZ_VERBOSE:-} ]] && cat "$log"
		while read -r target; do
			echo "fuzz $pkg $target ok (seed corpus only: internal/testenv starts the control plane in fuzzing workers too)"
			n=$((n + 1))
		done < <(sed -nE 's/^--- PASS: (Fuzz[A-Za-z0-9_]*) .*/\1/p' "$log")
		continue
	fi
	if ! go test -list '^Fuzz' "$pkg" >"$log" 2>&1; then
		cat "$log" >&2
		echo "fuzz $pkg: listing its targets failed" >&2
		exit 1
	fi
	mapfile -t targets < <(grep -E '^Fuzz[A-Za-z0-9_]*$' "$log" || true)
	for target in "${targets[@]}"; do
		corpus="$pkg/testdata/fuzz/$target"
		before=$(ls "$corpus" 2>/dev/null || true)
		note=""
		for attempt in 1 2 3; do
			# -run '^$': only the fuzz target (its seed corpus first), not the package's tests.
			if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimizetime" \
				-parallel "$parallel" "$pkg" >"$log" 2>&1; then
				break
			fi
			# Go before 1.27 (golang/go#75804): the coordinator can report its own
			# -fuzztime deadline as the failure, "context deadline exceeded" with
			# no failing input written. Only that is tried again.
			if [[ $attempt -lt 3 && $(ls "$corpus" 2>/dev/null || true) == "$before" ]] &&
				grep -qE '^[[:space:]]+context deadline exceeded$' "$log" && ! grep -q 'Failing input written' "$log"; then
				note=" (after golang/go#75804's spurious 'context deadline exceeded', no failing input)"
				continue
			fi
			cat "$log" >&2
			echo "fuzz $pkg $target FAILED (a failing input is written under $corpus/; rerun it with: go test -run '$target' $pkg)" >&2
			exit 1
		done
		[[ -n ${FUZZ_VERBOSE:-} ]] && cat "$log"
		echo "fuzz $pkg $target ok$note"
		n=$((n + 1))
	done
done
echo "fuzz: $n targets in ${#pkgs[@]} packages passed, ${fuzztime} each, in $((SECONDS - start))s"
