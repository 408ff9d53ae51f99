"""The figures of `make bench`, one module per phase; each writes its part of ``Bench.results``.

``bench/run.py`` runs them in order on one ``bench.harness.Bench``;
``bench/burst.py`` runs the contention phase alone.
"""
