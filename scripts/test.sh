#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs the whole test suite as
# root: formatting and static checks, unit tests, and integration tests
# against a private containerd, runc and docker-registry.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/lint.sh
cd "${BERTH_BUILD_DIR:-build}"
ctest --output-on-failure --timeout 600
