#!/bin/sh
# As the official redis image: `redis-server …` serves other containers
# (protected mode off); anything else runs as given.
set -eu
if [ "${1:-}" = redis-server ]; then
  shift
  exec redis-server --protected-mode no "$@"
fi
exec "$@"
