"""The operators' drill (``python -m bench.ops_drill``): its fakes, its console, its steps."""
