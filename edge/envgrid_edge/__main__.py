"""``python -m envgrid_edge`` is ``envgrid edge``."""

import sys

from envgrid_edge.cli import main

sys.exit(main())
