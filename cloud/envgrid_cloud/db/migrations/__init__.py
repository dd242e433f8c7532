"""Numbered SQL migrations, applied in order by ``envgrid db migrate``."""
