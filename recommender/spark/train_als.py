"""One training run in one Spark process: ratings Parquet in, factors, top-N and similar titles out.

    python -m recommender.spark.train_als --input DIR --output DIR [--params JSON] [--master URL]

Input ``DIR`` (written by ``recommender.training.export``):
  ratings.parquet     user:int, item:int, rating:float  — every rating the model learns from
  exclusions.parquet  user:int, item:int                — watchlist and "not interested" (optional)
  holdout.parquet     user:int, item:int, rating:float  — an explicit test set (optional; used by
                      ``evaluate_recommender``); without it ``holdout_fraction`` of the ratings is held out
Output ``DIR``:
  users.parquet       user, factors, rating_factors, bias, num_ratings, items, scores, predicted, confidence
  titles.parquet      item, factors, rating_factors, bias, support
  similar.parquet     item, similar (array), scores (array)
  result.json         counts, timings, metrics, candidates and the model constants (DESIGN.md)

stdout carries only ``PROGRESS {json}`` lines and a final ``RESULT {json}`` line; Spark logs go to
stderr. Exit status 0 on success, 1 on any failure (the error is the last stderr line), 2 on bad
arguments. With ``--bare-fit`` the job only times ``ALS.fit`` of both models on the input (the
benchmark's reference) and reports those timings.

This module is the command line only (arguments, following the parent process, waiting for the
export, the error line); the job is ``job.run``, with its parts in ``inputs``, ``fit``, ``grid``,
``passes`` (the executors' side) and ``evaluation``. The formulation (two models, fold-in,
confidence) is in recommender/DESIGN.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from recommender.spark.fit import bare_fit
from recommender.spark.inputs import local_path
from recommender.spark.job import Inputs, inputs_load, run
from recommender.spark.params import ParamsError, params_resolve
from recommender.spark.progress import Reporter
from recommender.spark.session import session_stop, spark_session_create


def error_summary(error: Exception) -> str:
    """One line for the run's error text: a Python worker's own exception rather than Spark's wrapping."""
    java = getattr(error, "java_exception", None)
    if java is not None:  # Py4JJavaError: the JVM's own exception says what went wrong
        try:
            return f"{type(error).__name__}: {java.toString()}"[:2000]
        except Exception:  # noqa: S110 - the JVM is gone; fall back to the Python text
            pass
    text = str(error)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    python_errors = [line for line in lines if line.split(":")[0].endswith(("Error", "Exception", "Interrupt"))]
    summary = python_errors[-1] if python_errors and "Traceback" in text else (lines[0] if lines else "")
    return f"{type(error).__name__}: {summary}"[:2000]


def parent_death_follow() -> None:
    """Linux: die with the process that started this job (a Celery worker killed with SIGKILL),
    instead of training on as an orphan. The JVM and Python workers follow the driver."""
    parent = os.environ.get("IMDBREC_PARENT_PID")
    if not parent or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        return
    if os.getppid() != int(parent):  # the parent died before the request took effect
        sys.exit(1)


def input_wait(marker: str, *, poll: float = 0.05) -> None:
    """Block until the service has written ``marker`` (its export is complete)."""
    path = Path(local_path(marker))
    failed = path.with_name(path.name + ".failed")
    while not path.exists():
        if failed.exists():
            raise RuntimeError("the export of the ratings failed; nothing to train on")
        time.sleep(poll)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recommender.spark.train_als", description=__doc__.split("\n")[0])
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", default="")
    parser.add_argument("--params", default="{}", help="JSON object of parameters (see params.py)")
    parser.add_argument("--master", default=None, help="Spark master (default: $SPARK_MASTER or local[*])")
    parser.add_argument("--bare-fit", action="store_true")
    parser.add_argument(
        "--wait-for",
        default="",
        help="start Spark, then wait for this file before reading --input (the service exports "
        "the ratings meanwhile); FILE.failed instead means the export failed",
    )
    args = parser.parse_args(argv)
    parent_death_follow()
    try:
        params = params_resolve(json.loads(args.params))
    except (ValueError, ParamsError) as error:
        print(f"bad --params: {error}", file=sys.stderr)
        return 2
    if not args.bare_fit and not args.output:
        print("--output is required", file=sys.stderr)
        return 2
    reporter = Reporter()
    started = time.monotonic()
    spark = None
    checkpoint_dir = None
    input_dir, output_dir = args.input.rstrip("/"), args.output.rstrip("/")

    def inputs_ready() -> Inputs | None:
        if args.wait_for:
            with reporter.timed("input_wait"):
                input_wait(args.wait_for)
        if args.bare_fit:
            return None
        return inputs_load(input_dir=input_dir, output_dir=output_dir, params=params, reporter=reporter)

    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="inputs") as early:
            # The JVM and the session take seconds to start: read and prepare the ratings meanwhile.
            inputs = early.submit(inputs_ready)
            with reporter.timed("spark_start"):
                if args.output:
                    checkpoint_dir = f"{output_dir}/checkpoints"
                spark = spark_session_create(
                    master=args.master, app_name="imdbrec-train-als", checkpoint_dir=checkpoint_dir
                )
            with reporter.timed("inputs_wait"):
                loaded = inputs.result()
        if args.bare_fit:
            result = bare_fit(spark, input_dir=input_dir, params=params, reporter=reporter)
        else:
            result = run(
                spark, input_dir=input_dir, output_dir=output_dir, params=params, reporter=reporter, inputs=loaded
            )
        result["timings"]["job_total"] = round(time.monotonic() - started, 3)
        if args.output and "://" not in args.output:
            Path(args.output, "result.json").write_text(json.dumps(result, indent=1, default=float))
        print("RESULT " + json.dumps(result, default=float), flush=True)
        return 0
    except Exception as error:  # the service shows this text on the run
        traceback.print_exc(file=sys.stderr)
        print(f"ERROR {error_summary(error)}", file=sys.stderr, flush=True)
        return 1
    finally:
        if spark is not None:
            session_stop(spark)
        if checkpoint_dir and "://" not in checkpoint_dir:
            shutil.rmtree(checkpoint_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
