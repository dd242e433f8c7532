"""Edge agents that run on sensor and camera nodes."""
