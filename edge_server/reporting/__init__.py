"""Offline reporting: ``strata report`` reads stats snapshots (``GET /v1/stats``) or ``/metrics``
scrapes of any number of nodes, adds them up and analyses them (``report.py``) with the statistics
of ``stats.py``. Nothing here speaks HTTP or runs in the server; it reads files."""
