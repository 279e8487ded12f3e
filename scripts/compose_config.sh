#!/usr/bin/env bash
# Validates docker/compose.yaml without a Docker engine: `docker compose config`
# where the compose plugin exists, else Debian's docker-compose package.
set -euo pipefail
cd "$(dirname "$0")/.."
# The file requires these secrets; placeholders let the structure be checked.
export DJANGO_SECRET_KEY="${DJANGO_SECRET_KEY:-validate-only}"
export STRIPE_SECRET_KEY="${STRIPE_SECRET_KEY:-validate-only}"
export STRIPE_WEBHOOK_SECRET="${STRIPE_WEBHOOK_SECRET:-validate-only}"
export OTP_SECRET="${OTP_SECRET:-validate-only}"
export EMAIL_URL="${EMAIL_URL:-smtp://validate-only:25}"
if docker compose version >/dev/null 2>&1; then
  docker compose -f docker/compose.yaml config -q
elif command -v docker-compose >/dev/null 2>&1; then
  docker-compose -f docker/compose.yaml config -q
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's docker-compose (only the file check is used; no engine needed)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; }
  docker-compose -f docker/compose.yaml config -q
else
  echo "neither 'docker compose' nor docker-compose is installed (apt-get install docker-compose)" >&2
  exit 1
fi
echo "docker/compose.yaml is valid"
