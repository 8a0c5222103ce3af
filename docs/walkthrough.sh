#!/usr/bin/env bash
# docs/walkthrough.sh: what a new user does first, from README.md, as
# written. It runs README.md's "Try it locally" and its invoke, proxy and
# esm examples: the ```sh blocks marked <!-- walkthrough: NAME -->, read
# from README.md itself (so the two cannot differ; internal/cli's
# TestWalkthroughMatchesREADME checks the markers), on a fresh build, one
# line at a time, and fails if
#   - a step exits non-zero or hangs (each is bounded: WALKTHROUGH_STEP_TIMEOUT,
#     default 120s, 600s for a build; the whole run by WALKTHROUGH_TIMEOUT,
#     default 1200s),
#   - anything prints an error (an ERROR log line, a panic, a librdkafka
#     error),
#   - a process it started is still running at the end.
# A line ending in "# Ctrl-C to stop" runs until it has done its work (the
# block's WAIT pattern appears in the output), then gets the Ctrl-C a
# person would type, and must stop by itself.
#
#   bash docs/walkthrough.sh           run it (.ci/run does)
#   bash docs/walkthrough.sh --print   print the commands it would run
#
# It needs the tools of .ci/install-tools (aws-lambda-rie, kcat) and MSK's
# ports on 127.0.0.1-3 (9092-9098), 19092-19095 and 9000 free.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# The README blocks, in the order a new user runs them: the emulator, the
# examples that use it, then its stop.
BLOCKS=(local invoke proxy esm stop)
# What a "# Ctrl-C to stop" line of a block must have printed (in its
# output or a background process's) before it is interrupted: for esm,
# the consumer function's log of the two orders the blocks before wrote.
declare -A WAIT=([esm]='"order received".*"id":"o-2"')

# block NAME prints the lines of README.md's ```sh block marked
# <!-- walkthrough: NAME -->.
block() {
	awk -v name="$1" '
		$0 == "<!-- walkthrough: " name " -->" { marked = 1; next }
		marked && /^```sh$/ { inside = 1; marked = 0; next }
		marked { marked = 0 }
		inside && /^```$/ { exit }
		inside { print }
	' README.md
}

for b in "${BLOCKS[@]}"; do
	if [ -z "$(block "$b")" ]; then
		echo "walkthrough: README.md has no \`\`\`sh block marked <!-- walkthrough: $b -->" >&2
		exit 1
	fi
done
if [ "${1:-}" = "--print" ]; then
	for b in "${BLOCKS[@]}"; do
		echo "# walkthrough: $b"
		block "$b"
	done
	exit 0
fi

# A session of its own, so that every process the README's commands start
# can be found at the end, bounded as a whole: timeout ends every process
# of the session after WALKTHROUGH_TIMEOUT.
total=${WALKTHROUGH_TIMEOUT:-1200}
if [ -z "${WALKTHROUGH_SESSION:-}" ]; then
	rc=0
	setsid --wait timeout -k 10 "$total" env WALKTHROUGH_SESSION=1 bash "$0" "$@" || rc=$?
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		echo "walkthrough: FAIL: still running after ${total}s" >&2
	fi
	exit "$rc"
fi
sid=$(ps -o sid= -p $$ | tr -d ' ')

command -v go >/dev/null || export PATH="/usr/local/go/bin:$PATH"
export PATH="$(go env GOPATH)/bin:$PATH"
step_timeout=${WALKTHROUGH_STEP_TIMEOUT:-120}
work=$(mktemp -d /tmp/msklink-walkthrough.XXXXXX)
bglog=$work/background.log
: >"$bglog"
failed=0
fail() {
	echo "walkthrough: FAIL: $*" >&2
	failed=1
}

# errors prints the lines of file $1 that report an error.
errors() {
	grep -E 'level=ERROR|"level":"ERROR"|panic:|^% ERROR|^%[0-3]\|' "$1" || true
}

# run_step runs one line of a block: in this shell when it changes the
# shell (export, ., unset, kill, a job in the background), else in a
# child bounded by the step timeout.
run_step() {
	local name=$1 line=$2 n=$3 out=$work/step-$n.log
	echo "\$ $line"
	case "$line" in
	*'# Ctrl-C to stop'*)
		run_interrupted "$name" "$line" "$out" || failed=1
		return
		;;
	*'&' | *'& '* | *'export '* | '. '* | *' . '* | unset* | kill*)
		if ! eval "$line" >>"$bglog" 2>&1; then
			fail "$line: exit $?"
		fi
		return
		;;
	esac
	local limit=$step_timeout
	case "$line" in *'go build'*) limit=600 ;; esac
	local rc=0
	timeout -k 5 "$limit" bash -c "$line" >"$out" 2>&1 || rc=$?
	sed 's/^/  /' "$out"
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		fail "$line: still running after ${limit}s"
	elif [ "$rc" != 0 ]; then
		fail "$line: exit $rc"
	fi
	if [ -n "$(errors "$out")" ]; then
		fail "$line printed an error: $(errors "$out" | head -3)"
	fi
}

# run_interrupted runs a command that runs until Ctrl-C: until the block's
# WAIT pattern shows it has done its work, then SIGINT, as Ctrl-C sends.
# It runs in a subshell, so that, as for a person's foreground command,
# the shell's $! still names the last job the README put in the
# background.
run_interrupted() (
	failed=0
	local name=$1 line=$2 out=$3 pattern=${WAIT[$1]:-}
	if [ -z "$pattern" ]; then
		fail "$line: block $name has no WAIT pattern for its Ctrl-C step"
		exit 1
	fi
	bash -c "exec $line" >"$out" 2>&1 &
	local pid=$! waited=0
	until grep -qE "$pattern" "$out" "$bglog"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			break
		fi
		if [ "$waited" -ge "$((step_timeout * 5))" ]; then
			break
		fi
		sleep 0.2
		waited=$((waited + 1))
	done
	if ! grep -qE "$pattern" "$out" "$bglog"; then
		fail "$line: no $pattern within ${step_timeout}s"
	fi
	kill -INT "$pid" 2>/dev/null || true
	local rc=0 i=0
	while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 150 ]; do
		sleep 0.2
		i=$((i + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		fail "$line: still running 30s after Ctrl-C"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" || rc=$?
	sed 's/^/  /' "$out"
	if [ "$rc" != 0 ]; then
		fail "$line: exit $rc after Ctrl-C"
	fi
	if [ -n "$(errors "$out")" ]; then
		fail "$line printed an error: $(errors "$out" | head -3)"
	fi
	exit "$failed"
)

n=0
for b in "${BLOCKS[@]}"; do
	# After a failure only the last block (the emulator's stop) runs.
	if [ "$failed" != 0 ] && [ "$b" != "${BLOCKS[-1]}" ]; then
		continue
	fi
	echo "## $b"
	while IFS= read -r line; do
		[ -z "$line" ] && continue
		n=$((n + 1))
		run_step "$b" "$line" "$n"
	done < <(block "$b")
done

# Background processes' output (msklink local, the proxy, aws-lambda-rie).
if [ -n "$(errors "$bglog")" ]; then
	fail "a background process printed an error: $(errors "$bglog" | head -5)"
fi

# Every process the walkthrough started has stopped (given 30s to): a
# stray one is reported, then ended.
others() {
	ps -o pid=,args= -s "$sid" | awk -v self=$$ '$1 != self && $2 !~ /^(ps|awk|sleep)$/ && $0 !~ /walkthrough\.sh/'
}
for _ in $(seq 150); do
	[ -z "$(others)" ] && break
	sleep 0.2
done
left=$(others)
if [ -n "$left" ]; then
	fail "processes left running 30s after the last step:
$left"
	for pid in $(echo "$left" | awk '{print $1}'); do
		kill "$pid" 2>/dev/null || true
	done
fi

if [ "$failed" != 0 ]; then
	echo "walkthrough: failed; background output:" >&2
	sed 's/^/  /' "$bglog" >&2
	echo "walkthrough: logs in $work" >&2
	exit 1
fi
rm -rf "$work"
echo "walkthrough: ok: ${BLOCKS[*]} ran as README.md says, no errors, nothing left running"
