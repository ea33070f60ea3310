#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs the whole test suite as
# root: formatting and static checks, unit tests, and integration tests
# against a private containerd, runc and docker-registry.
#
# clang-tidy takes about twenty CPU-minutes, and the integration tests spend
# most of their time waiting on containerd, timers and stop timeouts: the
# static analysis runs beside the tests under SCHED_IDLE (it only gets CPU
# time nothing else wants), and its result is shown and counted at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/lint.sh --format
build=${BERTH_BUILD_DIR:-build}
tidy_log=$(mktemp)
trap 'rm -f "$tidy_log"' EXIT
chrt --idle 0 nice -n 19 scripts/lint.sh --tidy >"$tidy_log" 2>&1 &
tidy=$!

tests=0
# Side by side: the integration tests are several processes that mostly
# wait (tests/CMakeLists.txt); those that measure CPU time run alone.
(cd "$build" && ctest --output-on-failure --timeout 600 -j 5) || tests=$?
lint=0
wait "$tidy" || lint=$?
cat "$tidy_log"
if ((tests)); then
  # A CI log is often read from its end: each failure again, in short, last.
  echo "test: the failures, once more (whole output above):"
  awk '/: Failure$/ { n = 60; print "----" }
       /^\[ +(RUN|OK|FAILED) +\]/ { n = 0 }
       n > 0 { print; n-- }' "$build/Testing/Temporary/LastTest.log" | head -n 400
fi
if ((lint)); then echo "test: clang-tidy found problems (above)" >&2; fi
if ((tests)); then echo "test: tests failed (above)" >&2; fi
if ((lint || tests)); then exit 1; fi
echo "test: all passed"
