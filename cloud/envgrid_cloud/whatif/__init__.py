"""What-if runs: a feed replayed into a scratch database with a site's rule overrides, and the
cases it raised set against those raised without them (``envgrid replay --what-if``).

The cloud's part: the scratch database (made, given the live registry and the overrides,
dropped), and reading and comparing cases. Starting the cloud and the replay is the CLI's
(``envgrid_cli.what_if``), which alone may use both the cloud and the simulator.
"""
