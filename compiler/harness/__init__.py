"""The compiler's side of the harness that ``tests/``, ``benchmarks/`` and ``edge_worker/bench/`` share:
the shared rule-set fixtures (:mod:`.fixtures`), bundles compiled and signed with test keys
(:mod:`.bundles`), generated rule sets of any size (:mod:`.generated`) and the generated adversarial
bundle only the runtime budget stops (:mod:`.adversarial`).

Why here: the top level is fixed, and a benchmark must never import ``tests/`` (nor a test
``benchmarks/``), so what both use lives in the part it drives, shipped with it as Starlette ships
``starlette.testclient``. Compiling and signing test bundles drives the compiler, so its helpers sit
in ``compiler/harness/``; running ``strata serve`` and workerd drives the edge, so those sit in
``edge_server/harness/``. (It is not called ``testing``: ``compiler/testing.py`` is ``strata test``,
the runner of a rule set's own cases, and one name names one thing.) The harness imports neither
pytest nor Hypothesis: a benchmark runs with the compiler and server extras alone. Pytest fixtures
stay thin wrappers in ``tests/conftest.py``; ``tests/test_import_direction.py`` holds the direction.
"""
