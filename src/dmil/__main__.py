"""``python -m dmil``: the dmil command line."""

import sys

from dmil.cli import main

sys.exit(main())
