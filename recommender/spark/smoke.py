"""A tiny ALS fit that proves Java, pyspark and MLlib work: ``python -m recommender.spark.smoke``."""

import json
import sys

from pyspark.ml.recommendation import ALS

from recommender.spark.session import session_stop, spark_session_create


def als_smoke_fit(*, master: str = "local[1]") -> dict:
    spark = spark_session_create(master=master, app_name="imdbrec-smoke", driver_memory="1g", shuffle_partitions=2)
    try:
        ratings = spark.createDataFrame(
            [(0, 0, 5.0), (0, 1, 4.0), (1, 0, 4.0), (1, 2, 1.0), (2, 1, 5.0), (2, 2, 2.0)], ["user", "item", "rating"]
        )
        model = ALS(rank=2, maxIter=5, regParam=0.1, seed=1, userCol="user", itemCol="item", ratingCol="rating").fit(
            ratings
        )
        predictions = {(row["user"], row["item"]): row["prediction"] for row in model.transform(ratings).collect()}
        return {
            "rank": model.rank,
            "users": model.userFactors.count(),
            "items": model.itemFactors.count(),
            "predictions": {f"{user},{item}": value for (user, item), value in sorted(predictions.items())},
            "spark_version": spark.version,
        }
    finally:
        session_stop(spark)


if __name__ == "__main__":
    json.dump(als_smoke_fit(master=sys.argv[1] if len(sys.argv) > 1 else "local[1]"), sys.stdout)
