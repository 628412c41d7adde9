"""HTTP resources, one module per concern."""
