#!/usr/bin/env bash
# Checks formatting (.clang-format) and static analysis (.clang-tidy) of
# berth's own sources. Needs a configured build/ (compile_commands.json).
#   scripts/lint.sh           check everything
#   scripts/lint.sh --format  formatting only (seconds)
#   scripts/lint.sh --tidy    static analysis only (minutes)
#   scripts/lint.sh --fix     rewrite formatting in place
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-all}
mapfile -t sources < <(git ls-files '*.cpp' '*.h' | grep -v '^build/')
if [[ "$mode" == "--fix" ]]; then
  clang-format -i "${sources[@]}"
  exit 0
fi

if [[ "$mode" == all || "$mode" == --format ]]; then
  echo "lint: clang-format on ${#sources[@]} files"
  clang-format --dry-run --Werror "${sources[@]}"
fi

if [[ "$mode" == all || "$mode" == --tidy ]]; then
  # clang-tidy 14 cannot compile libstdc++ 12's std::expected; 16 can, once told that
  # the compiler has C++20 concepts in full (libstdc++ checks __cpp_concepts),
  # as GCC itself announces.
  mapfile -t units < <(git ls-files '*.cpp')
  echo "lint: clang-tidy on ${#units[@]} files"
  printf '%s\n' "${units[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy-16 -p "${BERTH_BUILD_DIR:-build}" --quiet \
    --extra-arg=-std=gnu++2b --extra-arg=-U__cpp_concepts --extra-arg=-D__cpp_concepts=202002L \
    2> >(grep -v -E '^[0-9]+ warnings? generated|^Suppressed|^Use -header-filter' >&2)
fi
echo "lint: ok"
