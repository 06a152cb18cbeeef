-- The database roles of an imdbrec deployment: least privilege for the site, the migrations apart.
--
--   owner   runs `manage.py migrate` and owns every table (the only role that changes the schema).
--   site    the web processes: reads and writes rows (SELECT, INSERT, UPDATE, DELETE), uses the
--           sequences and temporary tables; cannot create, alter, drop or truncate a table, and
--           cannot create roles or databases. A SQL injection or a stolen connection string of the
--           web process cannot change the schema or reach beyond the rows.
--   worker  Celery workers and beat. The IMDb import drops and rebuilds its tables' indexes and
--           constraints, and training creates and attaches the per-run partitions: DDL that only a
--           table's owner may do. The worker role therefore acts as the owner (SET ROLE at login,
--           so the tables it creates belong to the owner and the site's grants apply to them); it
--           is still no superuser and cannot create roles or databases.
--
-- Run once as a superuser, on an empty or existing database (docker-compose does it when the
-- Postgres volume is first created: deploy/postgres-init.sh):
--   psql -v ON_ERROR_STOP=1 -v database=imdbrec -v owner=imdbrec_owner -v site=imdbrec_site \
--        -v worker=imdbrec_worker -v owner_password=... -v site_password=... -v worker_password=... \
--        -f deploy/database-roles.sql
-- then point DATABASE_URL at the owner for `migrate`, at the site role for the web processes and
-- at the worker role for the workers and beat.

CREATE ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
CREATE ROLE :"site" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'site_password';
CREATE ROLE :"worker" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'worker_password';

ALTER DATABASE :"database" OWNER TO :"owner";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"database" TO :"site", :"worker";

\connect :"database"
ALTER SCHEMA public OWNER TO :"owner";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"site";

-- Tables that exist already (their owner stays; on a database migrated before the roles, also
-- run `REASSIGN OWNED BY <old migrations role> TO <owner>` as a superuser) ...
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"site";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"site";
-- ... and those the migrations and the workers create later.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"site";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO :"site";

GRANT :"owner" TO :"worker";
ALTER ROLE :"worker" IN DATABASE :"database" SET role = :'owner';
