"""``python -m metrology``: the command line (see :mod:`metrology.cli`)."""

import os
import signal
import sys

# until the command installs its own handling, Ctrl-C ends the start-up quietly
signal.signal(signal.SIGINT, lambda *_: os._exit(130))

from .cli import console  # noqa: E402

sys.exit(console())
