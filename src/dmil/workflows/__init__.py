"""Multi-run workflows on top of :func:`dmil.evaluation.run_experiment`.

* :mod:`~dmil.workflows.suites`: the benchmark datasets, their budgets and suites;
* :mod:`~dmil.workflows.study`: ``dmil run``, one dataset from data to the numbers of a
  report (interactions, every method, DMIL's gate);
* :mod:`~dmil.workflows.bench`: ``dmil bench``, the resumable datasets x methods x seeds
  matrix behind BENCHMARKS.md.

Submodules are imported where used, so importing this package is cheap.
"""
