"""The ``envgrid`` command: one entry point for every component, and the all-in-one demo."""
