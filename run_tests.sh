#!/usr/bin/env bash
# Install hpogrid with every extra and the test tools into .venv/, then lint and run the tests.
# Arguments are passed to pytest, e.g.  ./run_tests.sh -k search_space -x
set -euo pipefail
cd "$(dirname "$0")"
unset HPOGRID_BASE_PATH  # tests make their own
# shellcheck disable=SC1091
source setupenv.sh all,ax,dev
ruff check hpogrid tests bench example
python -m pytest "$@"
