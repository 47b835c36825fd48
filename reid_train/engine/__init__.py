"""Training engine: recipes, objective, checkpoints, the trainer loop and feature extraction."""
