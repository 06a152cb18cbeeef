"""SparkSession factory sized for this machine (2 cores, 24 GiB) unless told otherwise."""

import os
import sys

from pyspark.sql import SparkSession

CLASS_ARCHIVE_ENV = "SPARK_CLASS_ARCHIVE"
_archive_pending: tuple[str, str] | None = None  # (temporary file the JVM writes at exit, final name)


def class_archive_option() -> str:
    """The driver JVM's class data sharing option: start from the archive when it exists. With
    ``SPARK_CLASS_ARCHIVE_WRITE=1`` (``python -m recommender.spark.class_archive``) this JVM
    writes it instead, when it exits; ``session_stop`` then publishes it under its final name."""
    global _archive_pending
    archive = os.environ.get(CLASS_ARCHIVE_ENV, "")
    if not archive:
        return ""
    if os.environ.get("SPARK_CLASS_ARCHIVE_WRITE") == "1":
        os.makedirs(os.path.dirname(archive) or ".", exist_ok=True)
        _archive_pending = (f"{archive}.{os.getpid()}.tmp", archive)
        return f"-XX:ArchiveClassesAtExit={_archive_pending[0]}"
    return f"-XX:SharedArchiveFile={archive}" if os.path.isfile(archive) else ""


def session_stop(session: SparkSession, *, timeout: float = 120) -> None:
    """Stop Spark. A JVM writing the class archive is then asked to exit (it leaves when its
    stdin closes) and waited for, and the archive is moved to its final name in one step."""
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    session.stop()
    if _archive_pending is None:
        return
    temporary, final = _archive_pending
    process = getattr(gateway, "proc", None)
    try:
        if process is not None:
            process.stdin.close()
            process.wait(timeout=timeout)
        if os.path.isfile(temporary) and os.path.getsize(temporary) > 0:
            os.replace(temporary, final)
    except Exception as error:  # noqa: BLE001 - the archive only makes later starts faster
        print(f"the class archive was not written: {error}", file=sys.stderr)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def spark_session_create(
    *,
    master: str | None = None,
    app_name: str = "imdbrec",
    driver_memory: str | None = None,
    shuffle_partitions: int | None = None,
    checkpoint_dir: str | None = None,
) -> SparkSession:
    master = master or os.environ.get("SPARK_MASTER", "local[*]")
    # Python workers run the same interpreter as the driver (the project's venv with numpy,
    # pandas and pyarrow), unless the cluster says otherwise.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.driver.memory", driver_memory or os.environ.get("SPARK_DRIVER_MEMORY", "4g"))
        .config(
            "spark.sql.shuffle.partitions", str(shuffle_partitions or os.environ.get("SPARK_SHUFFLE_PARTITIONS", "8"))
        )
        .config("spark.ui.enabled", os.environ.get("SPARK_UI_ENABLED", "false"))
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config(
            "spark.driver.extraJavaOptions",
            " ".join(
                filter(
                    None,
                    ["-Dlog4j2.level=WARN", class_archive_option(), os.environ.get("SPARK_DRIVER_JAVA_OPTIONS", "")],
                )
            ),
        )
    )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(os.environ.get("SPARK_LOG_LEVEL", "WARN"))
    if checkpoint_dir:
        session.sparkContext.setCheckpointDir(checkpoint_dir)
    return session
