"""Virtual nodes and township scenarios."""
