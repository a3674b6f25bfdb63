"""The edge's side of the harness that ``tests/``, ``benchmarks/`` and ``edge_worker/bench/`` share:
free ports and waiting (:mod:`.ports`), the real ``strata serve`` under uvicorn on 127.0.0.1
(:mod:`.server`), the real worker in workerd from npm (:mod:`.workerd`) and a local static origin
(:mod:`.origin`). The rule sets and bundles they serve come from ``compiler/harness/``.

Why here: the top level is fixed, and a benchmark must never import ``tests/`` (nor a test
``benchmarks/``), so what both use lives in the part it drives, shipped with it as Starlette ships
``starlette.testclient``. Running a server or the worker drives the edge: ``edge_server/harness/``
(edge_worker/ holds no Python package; its benchmark scripts import this one). Nothing here imports
pytest or Hypothesis: a benchmark runs with the server extra alone; pytest fixtures stay thin
wrappers in ``tests/conftest.py``. ``tests/test_import_direction.py`` holds the direction.
"""
