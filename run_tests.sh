#!/usr/bin/env bash
# Install hpogrid with every extra and the test tools into .venv/, then lint and run the tests.
# Arguments are passed to pytest, e.g.  ./run_tests.sh -k search_space -x   (-n 0: no worker processes)
set -euo pipefail
cd "$(dirname "$0")"
unset HPOGRID_BASE_PATH  # tests make their own
# shellcheck disable=SC1091
source setupenv.sh all,ax,dev
ruff check hpogrid tests bench example
# the MLflow tracking-server test needs the full 'mlflow' package, which cannot share .venv (it pins an older
# pyarrow and python-dateutil than Ray's): its own environment, at the MLflow version hpogrid installs
mlflow_version="$(python -c 'from importlib.metadata import version; print(version("mlflow-skinny"))')"
server_venv=.venv-mlflow-server
if ! "$server_venv/bin/python" -c "import mlflow.server, sys; sys.exit(mlflow.__version__ != '$mlflow_version')" 2>/dev/null; then
    rm -rf "$server_venv"
    python -m venv "$server_venv"
    "$server_venv/bin/pip" install -q "mlflow==$mlflow_version"
fi
# two workers: the tests wait on Ray, grid jobs and browsers more than they compute (one worker kept a 2-CPU
# machine ~60% busy); `-n 0` runs them in this process
python -m pytest -n 2 "$@"
