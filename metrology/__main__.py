"""``python -m metrology``: the command line (see :mod:`metrology.cli`)."""

import sys

from .cli import main

sys.exit(main())
