"""Arc-Eval."""
