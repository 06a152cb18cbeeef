"""The only package that imports pyspark. It never touches the ORM: data comes in and goes out as files.

Jobs run as their own processes (``python -m recommender.spark.<job> ...``), never inside a web
process or a forked Celery child.
"""
