#!/bin/sh
# Container start: apply migrations, then hand the process over to gunicorn.
# Several app containers may start at once: on MySQL the migrations take a named lock
# (GET_LOCK in server/db.py), so one migrates and the others find the schema up to date.
# MIGRATE_ON_START=false skips the step (e.g. when a release job migrates beforehand).
set -eu
cd "$(dirname "$0")/.."
if [ "${MIGRATE_ON_START:-true}" = "true" ]; then
  flask --app server init-db
fi
exec gunicorn -c deploy/gunicorn.conf.py 'server:create_app()'
