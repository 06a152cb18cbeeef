"""Training the recommender: one module per subject, imported by their own paths (no re-exports).

- ``runs``: a ``ModelRun``'s life (create, queue, mark running, fail, switch, activate, clean up)
  and its heartbeat;
- ``pipeline``: ``model_run_train``, the phases of one training in order;
- ``export``: ratings out of Postgres into Parquet, and a run's exchange directory;
- ``spark_job``: the Spark job's process;
- ``write_back``: the job's output into the run's rows;
- ``partitions``: the per-run tables of recommendations and similar titles, deleting a run's rows;
- ``communities``: the training's side of the taste communities;
- ``retrain``: when to retrain (ratings counted since the last training).
"""
