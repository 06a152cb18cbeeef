"""The Spark job of a training, in a process of its own.

``spark_job_run`` starts ``python -m recommender.spark.train_als`` as a fresh process group, relays
its ``PROGRESS`` lines, returns its ``RESULT`` and reaps the process in the background; any failure
here kills the whole group, and a non-zero exit becomes a ``SparkJobError`` carrying the job's own
error line. ``spark_class_archive_build`` prepares the driver JVM's class archive the same way.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from recommender.training.runs import TrainingError


class SparkJobError(TrainingError):
    pass


INPUT_READY = "ready"


def spark_class_archive_build(*, force: bool = False) -> tuple[bool, str]:
    """Build ``SPARK_CLASS_ARCHIVE`` (the Spark driver JVM's class data sharing archive) in a
    process of its own, unless it exists. Returns (built now, a line for the user)."""
    archive = settings.SPARK_CLASS_ARCHIVE
    if not archive:
        return False, "SPARK_CLASS_ARCHIVE is empty: Spark starts without a class archive"
    path = Path(archive)
    if path.is_file() and not force:
        return False, f"{path} exists ({path.stat().st_size / 2**20:.0f} MB)"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "recommender.spark.class_archive", str(path)],
        cwd=str(settings.BASE_DIR),
        capture_output=True,
        text=True,
        env={**os.environ, "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")},
    )
    if result.returncode != 0 or not path.is_file():
        lines = [line for line in result.stderr.splitlines() if line.strip() and "[warning][cds]" not in line]
        raise SparkJobError(f"the class archive was not built: {lines[-1] if lines else result.returncode}")
    return True, f"built {path} ({path.stat().st_size / 2**20:.0f} MB) in {time.monotonic() - started:.0f} s"


def spark_job_run(
    *,
    input_dir: Path,
    output_dir: Path,
    params: dict,
    log_path: Path,
    on_progress: Callable[[str, float, str], None] | None = None,
    bare_fit: bool = False,
    input_prepare: Callable[[], None] | None = None,
) -> dict:
    """Run ``python -m recommender.spark.train_als`` as a fresh process; returns its RESULT.

    With ``input_prepare``, the process starts first and that function (the export) runs while
    the JVM and the Spark session start (a few seconds saved); the job waits for the marker
    written when it returns. Spark's own logs go to ``log_path``. A non-zero exit raises
    ``SparkJobError`` with the job's error line. Any exception here (a failed export, a Celery
    time limit, Ctrl-C) kills the job's process group.
    """
    command = [
        sys.executable,
        "-m",
        "recommender.spark.train_als",
        "--input",
        str(input_dir),
        "--params",
        json.dumps(params),
        "--master",
        settings.SPARK_MASTER,
    ]
    command += ["--bare-fit"] if bare_fit else ["--output", str(output_dir)]
    if input_prepare is not None:
        command += ["--wait-for", str(input_dir / INPUT_READY)]
    base_dir = str(settings.BASE_DIR)
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([base_dir, *filter(None, [os.environ.get("PYTHONPATH")])]),
        "SPARK_MASTER": settings.SPARK_MASTER,
        "SPARK_DRIVER_MEMORY": str(settings.SPARK_DRIVER_MEMORY),
        "SPARK_SHUFFLE_PARTITIONS": str(settings.SPARK_SHUFFLE_PARTITIONS),
        "SPARK_CLASS_ARCHIVE": settings.SPARK_CLASS_ARCHIVE,
        "PYTHONUNBUFFERED": "1",
        # Spark's ALS calls native BLAS (OpenBLAS, when installed) once per rating with small
        # vectors: threads inside each call only fight Spark's own tasks for the cores.
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1"),
        # The job asks the kernel to stop it when this process dies (a killed worker leaves no orphan).
        "IMDBREC_PARENT_PID": str(os.getpid()),
    }
    result = None
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            cwd=base_dir,
            env=environment,
            start_new_session=True,
        )
        try:
            if input_prepare is not None:
                input_prepare()
                (input_dir / INPUT_READY).touch()
            assert process.stdout is not None  # stdout=PIPE
            for line in process.stdout:
                if line.startswith("PROGRESS ") and on_progress is not None:
                    with contextlib.suppress(ValueError, KeyError):
                        progress = json.loads(line[9:])
                        on_progress(progress["step"], float(progress["progress"]), progress.get("message", ""))
                elif line.startswith("RESULT "):
                    result = json.loads(line[7:])
                    # Every output file is complete: the write-back need not wait for Spark to
                    # stop (a second or two); the process is reaped in the background.
                    threading.Thread(
                        target=_process_reap, args=(process,), daemon=True, name=f"spark-job-{process.pid}-reaper"
                    ).start()
                    return result
            returncode = process.wait()
        except BaseException:
            _process_group_kill(process)
            raise
    if returncode != 0 or result is None:
        raise SparkJobError(f"the Spark job failed (exit status {returncode}): {_job_error(log_path)}")
    return result


def _process_reap(process: subprocess.Popen, timeout: float = 120) -> None:
    """Let a job that has reported its result stop on its own; stop it if it does not."""
    assert process.stdout is not None  # started with stdout=PIPE
    try:
        for _line in process.stdout:
            pass
        process.wait(timeout=timeout)
    except (subprocess.TimeoutExpired, OSError, ValueError):
        _process_group_kill(process)


def _process_group_kill(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _job_error(log_path: Path) -> str:
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return "no log"
    errors = [line[6:] for line in lines if line.startswith("ERROR ")]
    if errors:
        return errors[-1]
    tail = [line for line in lines if line.strip()][-5:]
    return " | ".join(tail)[-2000:] or "no output"
