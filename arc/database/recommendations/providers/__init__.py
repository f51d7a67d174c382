"""LLM providers of the recommendation engine: one module per provider."""
