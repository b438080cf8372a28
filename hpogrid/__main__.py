"""`python -m hpogrid` runs the command line."""

import sys

if sys.argv[1:2] == ["job_run"]:  # a grid job: before any slow import, keep the pilot's signals
    from hpogrid.grid import early

    early.catch()

from hpogrid.cli import main  # noqa: E402

sys.exit(main())
