#!/usr/bin/env bash
# Installs the system packages the test suite uses when they are missing and we are root:
# a PostgreSQL server (store tests) and Chromium (dashboard browser test). Without root,
# the tests that need them are skipped with a reason.
set -u
need=()
ls -d /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: missing ${need[*]} and not root with apt-get: those tests will be skipped" >&2
    exit 0
fi
echo "system-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq "${need[@]}" >/dev/null \
    || echo "system-deps: could not install ${need[*]}: those tests will be skipped" >&2
exit 0
