"""Schema (numbered SQL migrations) and connections."""
