"""Data layer: MOTChallenge sequences, frame sources, synthetic sequences, training clips."""
