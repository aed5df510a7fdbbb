"""``python -m dmil.cli``: the dmil command line."""

import sys

from dmil.cli import main

sys.exit(main())
