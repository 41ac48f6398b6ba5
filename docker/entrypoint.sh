#!/bin/sh
# cleangate-entrypoint ROLE [ARGS…] — the roles of the one image (docs/deployment.md).
#   web        gunicorn on $PORT (8000): portal, console, boards, REST and mini-program APIs
#   hub        the edge bridges' and boards' websocket server on $HUB_PORT (8765)
#   worker     RQ workers (all queues unless ARGS name them: --queues exports,default)
#   scheduler  the periodic jobs (run exactly one; a Redis lease guards against two)
#   migrate    create/align the database roles as the RDS master, then migrate as the owner
#   cleangate  any other command: cleangate-entrypoint cleangate ledger verify --site …
set -eu
role="${1:-web}"
[ "$#" -gt 0 ] && shift
case "$role" in
  web)
    exec gunicorn --bind "0.0.0.0:${PORT:-8000}" --worker-class gthread \
      --workers "${WEB_WORKERS:-2}" --threads "${WEB_THREADS:-8}" \
      --timeout "${WEB_TIMEOUT:-60}" --graceful-timeout 30 --keep-alive 75 \
      --access-logfile - "$@" 'saas.app:create_app()' ;;
  hub) exec cleangate hub --host 0.0.0.0 --port "${HUB_PORT:-8765}" "$@" ;;
  worker) exec cleangate worker "$@" ;;
  scheduler) exec cleangate scheduler "$@" ;;
  migrate)
    if [ -n "${DB_ADMIN_USER:-}" ]; then
      cleangate db bootstrap-roles
    else
      echo "cleangate-entrypoint: DB_ADMIN_USER unset: roles not bootstrapped, migrating only" >&2
    fi
    exec cleangate db upgrade "$@" ;;
  cleangate) exec cleangate "$@" ;;
  *)
    echo "cleangate-entrypoint: unknown role '$role'" \
      "(web, hub, worker, scheduler, migrate, or cleangate COMMAND…)" >&2
    exit 64 ;;
esac
