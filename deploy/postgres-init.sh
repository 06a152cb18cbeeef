#!/bin/sh
# Run by the postgres image when its volume is first initialised (/docker-entrypoint-initdb.d):
# creates the owner, site and worker roles of deploy/database-roles.sql with the passwords
# docker-compose passes from .env.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v database="$POSTGRES_DB" -v owner=imdbrec_owner -v site=imdbrec_site -v worker=imdbrec_worker \
  -v owner_password="$IMDBREC_OWNER_PASSWORD" -v site_password="$IMDBREC_SITE_PASSWORD" \
  -v worker_password="$IMDBREC_WORKER_PASSWORD" \
  -f /deploy/database-roles.sql
