# The application image: web (gunicorn), Celery workers and beat all run from it.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=imdbrec.settings.production \
    JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64

# Java for PySpark's driver; libopenblas for Spark MLlib's native BLAS.
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jre-headless libopenblas0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt requirements.lock ./
RUN pip install --no-cache-dir -r requirements.txt -c requirements.lock
COPY . .
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput --verbosity 0

RUN useradd --create-home imdbrec && mkdir -p /app/var && chown -R imdbrec /app/var
USER imdbrec
EXPOSE 8000
# Access and error logs, with the application's own output and tracebacks, on stdout/stderr:
# `docker compose logs web` is where an operator reads them. 12 threads a worker: requests of one
# client over its limit wait for their turn holding a thread (imdbrec/inflight.py, CLIENT_MAX_WAITING).
CMD ["gunicorn", "imdbrec.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "12", \
     "--timeout", "60", "--access-logfile", "-", "--error-logfile", "-", "--capture-output"]
