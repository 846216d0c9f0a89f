#!/usr/bin/env bash
# install-deps.sh: install the Debian packages that building, testing and
# running Lantern need, and only those that are missing.
#
#   deploy/install-deps.sh           install whatever is missing
#   deploy/install-deps.sh --check   exit 0 if nothing is missing, 1 otherwise
#   deploy/install-deps.sh --list    print the package list
#   ... --bench                      also the packages of `make bench` only
#
# Idempotent: when everything is present it does nothing and touches no
# package database.  The Makefile calls it (with --check first) before a
# build, so that `make run` and `make test` work on a fresh Debian 12
# machine with nothing done by hand; `make bench` calls it with --bench.
#
# --bench adds RabbitMQ (rabbitmq-server, which pulls in Erlang, and the C
# client librabbitmq-dev) for tests/bench/bench_broker, which starts a
# private broker of its own on loopback.  They are kept out of the default
# set so that building and `make test` (CI) never install Erlang.  A system
# RabbitMQ service that this script installs is not left running: it would
# listen on every interface and is not what the benchmark measures.
set -euo pipefail

# clang is the compiler of `make fuzz`; its libFuzzer, ASan and UBSan
# runtimes are in libclang-rt-dev (only a Recommends of clang, which
# --no-install-recommends below would skip).
PACKAGES=(
    build-essential pkg-config clang
    libzmq3-dev libczmq-dev
    libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev
    libpq-dev postgresql-15 postgresql-client-15
    libconfig-dev libsodium-dev libcmocka-dev libjson-c-dev
    cppcheck clang-format
    libclang-rt-dev
    docker-compose
)
BENCH_PACKAGES=(
    librabbitmq-dev rabbitmq-server
)

action=""
for arg in "$@"; do
    case "$arg" in
        --bench) PACKAGES+=("${BENCH_PACKAGES[@]}") ;;
        --check|--list) action="$arg" ;;
        -h|--help)
            awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
            exit 0 ;;
        *)
            echo "install-deps: unknown option '$arg' (try --help)" >&2
            exit 2 ;;
    esac
done

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

case "$action" in
    --check)
        if [ ${#missing[@]} -gt 0 ]; then
            echo "install-deps: missing: ${missing[*]}" >&2
            exit 1
        fi
        exit 0 ;;
    --list)
        printf '%s\n' "${PACKAGES[@]}"
        exit 0 ;;
esac

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-deps: need root to install: ${missing[*]}" >&2
        echo "install-deps: run as root: apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
# Do not let the postgresql package start a system cluster we never use:
# Lantern runs its own throwaway clusters (deploy/pg-local).
if [ -z "$SUDO" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
# A RabbitMQ installed just now for the benchmark: stop and disable the
# system service that the package starts where systemd runs (the benchmark
# runs its own broker, on loopback only, and removes it afterwards).
if printf '%s\n' "${missing[@]}" | grep -qx rabbitmq-server &&
    [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now rabbitmq-server.service >&2 || true
fi
echo "install-deps: done" >&2
