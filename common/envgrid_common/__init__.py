"""envgrid's wire contract: message models, the topic grammar, metric names and units."""

__version__ = "0.1.0"
