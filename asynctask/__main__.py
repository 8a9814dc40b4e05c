"""``python -m asynctask``: the command line."""

import sys

from asynctask.cli import main

sys.exit(main())
