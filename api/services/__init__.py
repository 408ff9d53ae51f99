"""Service functions: one per route, holding the logic that routes stay thin of."""
