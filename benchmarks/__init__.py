"""The benchmark harness behind `python -m ml bench` and `make bench` (figures in docs/benchmarks.md).

  runner           per shop size, every stage in its own child process; the side-by-side comparisons
  stages           what each child runs (ingest, validation, features, each family, writes, the DAG run)
  measure          the child process, its wall/CPU time and peak memory (os.wait4)
  pandas_features  user features as a pandas groupby, checked equal to the warehouse SQL
  report           Markdown tables, docs/benchmarks.json and the MLflow run
  recommender      `python -m benchmarks.recommender`: the recommender's steps one at a time in this
                   process (fits on random feedback; matrix, inputs and train on a loaded shop), timed
                   with `measure.timed`, with --save/--check to prove a rework changes no result

Outside the product package on purpose: `ml/` never imports it (`python -m ml bench` imports it when run).
"""
