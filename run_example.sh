#!/usr/bin/env bash
# Set up hpogrid in .venv/ and run the README's Quick Start example 1 locally: a simple objective,
# 200 trials of random search on an embedded Ray; then report the best ten, and write the HTML report of all.
# Configs, the project, its results and the report land in this checkout (HPOGRID_BASE_PATH), ready
# for `hpogrid project show simple_objective` and `hpogrid report simple_objective` afterwards.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck disable=SC1091
source setupenv.sh examples,report
set -x
hpogrid model_config create simple_objective_model --script simple_objective.py --model simple_objective
hpogrid search_space create simple_objective_space '{"height":{"method":"uniform","dimension":{"low":-100,"high":100}}, "width":{"method":"uniform","dimension":{"low":0,"high":20}}}'
hpogrid hpo_config create random_search_min_loss --algorithm random --metric loss --mode min --num_trials 200
hpogrid grid_config create manc_standard --site ANALY_MANC_GPU_TEST
hpogrid project create simple_objective --scripts_path "$PWD/example/scripts/simple_objective.py" \
    --model_config simple_objective_model --search_space simple_objective_space \
    --hpo_config random_search_min_loss --grid_config manc_standard
hpogrid local_run simple_objective
hpogrid report simple_objective --top 10
hpogrid report simple_objective --to_html --quiet --outname "$HPOGRID_BASE_PATH/projects/simple_objective/hpo_result"
{ set +x; } 2>/dev/null
echo
echo "Done. hpogrid is installed in $PWD/.venv and HPOGRID_BASE_PATH=$HPOGRID_BASE_PATH holds the example."
echo "To use hpogrid in a new shell, first run:"
echo "    source $PWD/setupenv.sh examples,report"
echo "then, e.g.:  hpogrid project show simple_objective;  hpogrid report simple_objective --top 5"
