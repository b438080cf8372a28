"""`python -m hpogrid` runs the command line."""

import sys

from hpogrid.cli import main

sys.exit(main())
