#!/usr/bin/env bash
# Creates the databases ValueFlow needs beside Airflow's own ($POSTGRES_DB): one per name in
# $VALUEFLOW_DATABASES (the compose file sets "warehouse mlflow mlflow_auth"). The postgres image runs this once,
# on an empty data volume; tests/system runs it against the local server. Safe to run again.
set -euo pipefail
for db in ${VALUEFLOW_DATABASES:-warehouse mlflow mlflow_auth}; do
  [[ "$db" =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "bad database name: $db" >&2; exit 1; }
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-postgres}" <<SQL
SELECT 'CREATE DATABASE $db OWNER "$POSTGRES_USER"' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$db')\gexec
SQL
  echo "database $db ready"
done
