"""The grid, sites and nodes as the cloud stores them."""
