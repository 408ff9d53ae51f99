"""Side effects, one module per external concern. Each activity is idempotent."""
