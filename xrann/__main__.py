"""``python -m xrann``: the same as the ``xrann`` command (see `xrann.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
