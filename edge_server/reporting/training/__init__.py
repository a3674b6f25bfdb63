"""``strata train``: fit each model of a rule set from the fleet's aggregate counters (offline).

  counts.py       the ``models`` counter rows of stats snapshots / scrapes, summed over a fleet
  model_info.py   what a rule set says about its models (features, level names, spec, where to write)
  naive_bayes.py  the fit: naive Bayes with Laplace smoothing, thin levels pooled (closed form)
  auc.py          AUC from a level table (exact from counts)
  summary.py      the printed summary
  write.py        the coefficient file (deterministic bytes)
  cli.py          the command (entry point ``train`` in ``strata.commands``; extra ``[train]``)
"""
