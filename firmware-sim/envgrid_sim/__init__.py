"""Virtual nodes, township scenarios, record and replay."""
