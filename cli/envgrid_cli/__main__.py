"""``python -m envgrid_cli`` is ``envgrid``."""

import sys

from envgrid_cli.main import main

sys.exit(main())
