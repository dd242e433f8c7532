"""Townships that ship with the simulator, one module each."""
