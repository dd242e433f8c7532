"""Finding smoke and flame in frames: cheap gates, colour and motion cues, a learned verifier."""
