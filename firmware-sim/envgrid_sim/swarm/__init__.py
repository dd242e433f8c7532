"""Many virtual nodes on one event loop: the simulator's scale mode."""
