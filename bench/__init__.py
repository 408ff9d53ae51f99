"""`make bench`: the baseline, the Temporal floor and the engine under one load generator."""
