# Set up hpogrid from this checkout. Use:  source setupenv.sh [EXTRAS] [no-venv]
#
#   EXTRAS   pip extras to install, comma-separated (default: all). See setup.py, e.g.
#            "examples" (just what the examples need), "all,ax" (every algorithm), "all,ax,dev" (tests).
#   no-venv  install into the Python environment that is active now (also: no-conda)
#            instead of the checkout's own .venv/.
#
# Exports HPOGRID_BASE_PATH (configs and projects; default: this checkout) unless it is set.
# Sourced, so it never exits your shell: failures print a message and return non-zero.

_hpogrid_setup() {
    local src dir extras="all" use_venv=1 arg python stamp want
    src="${BASH_SOURCE[0]:-$0}"
    dir="$(cd "$(dirname "$src")" && pwd)" || return 1
    for arg in "$@"; do
        case "$arg" in
            no-venv|no-conda) use_venv=0 ;;
            -h|--help) sed -n '1,10p' "$src"; return 0 ;;
            *) extras="$arg" ;;
        esac
    done
    if [ "$use_venv" = 1 ]; then
        python="${HPOGRID_PYTHON:-python3}"
        if [ ! -x "$dir/.venv/bin/python" ]; then
            echo "hpogrid: creating $dir/.venv with $($python --version 2>&1)"
            "$python" -m venv "$dir/.venv" || { echo "hpogrid: could not create a venv with $python" >&2; return 1; }
            "$dir/.venv/bin/python" -m pip install -q --upgrade pip setuptools wheel || return 1
        fi
        # shellcheck disable=SC1091
        . "$dir/.venv/bin/activate" || return 1
    fi
    stamp="$(python -c 'import sys; print(sys.prefix)')/.hpogrid-install-${extras//[^A-Za-z0-9_]/-}"
    want="$dir $(cksum < "$dir/setup.py")"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        echo "hpogrid: installing hpogrid[$extras] (pinned versions; first time takes a few minutes)"
        python -m pip install -q -e "$dir[$extras]" || { echo "hpogrid: pip install failed" >&2; return 1; }
        printf '%s' "$want" > "$stamp"
    fi
    export HPOGRID_BASE_PATH="${HPOGRID_BASE_PATH:-$dir}"
    echo "hpogrid $(python -c 'import hpogrid; print(hpogrid.__version__)') ready; HPOGRID_BASE_PATH=$HPOGRID_BASE_PATH"
}
_hpogrid_setup "$@"
_hpogrid_status=$?
unset -f _hpogrid_setup
return $_hpogrid_status 2>/dev/null || exit $_hpogrid_status
