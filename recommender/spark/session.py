"""SparkSession factory sized for this machine (2 cores, 24 GiB) unless told otherwise."""

import os
import sys

from pyspark.sql import SparkSession


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
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions or os.environ.get("SPARK_SHUFFLE_PARTITIONS", "8")))
        .config("spark.ui.enabled", os.environ.get("SPARK_UI_ENABLED", "false"))
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.extraJavaOptions",
                " ".join(["-Dlog4j2.level=WARN", os.environ.get("SPARK_DRIVER_JAVA_OPTIONS", "")]).strip())
    )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(os.environ.get("SPARK_LOG_LEVEL", "WARN"))
    if checkpoint_dir:
        session.sparkContext.setCheckpointDir(checkpoint_dir)
    return session
