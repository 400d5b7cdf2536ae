#!/bin/sh
# Runs Docker Compose with the arguments given, whichever Compose this machine has:
# the v2 plugin (`docker compose`) when the Docker CLI answers to it, else the v1
# standalone `docker-compose`. COMPOSE overrides the choice (COMPOSE=docker-compose).
# `make compose-up` and `make compose-down` call it; scripts/compose_test.go tests it
# with fake commands on PATH.
set -eu
if [ -n "${COMPOSE:-}" ]; then
	# Word splitting is wanted: COMPOSE="docker compose".
	# shellcheck disable=SC2086
	exec $COMPOSE "$@"
fi
if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
	exec docker compose "$@"
fi
if command -v docker-compose >/dev/null 2>&1; then
	exec docker-compose "$@"
fi
echo "compose.sh: neither \`docker compose\` (Compose v2) nor \`docker-compose\` (Compose v1) is installed: install either one" >&2
exit 127
