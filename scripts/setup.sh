#!/usr/bin/env bash
# Installs what a fresh machine lacks for building and testing ApusDB: Debian's zstd and lz4
# development packages (block compression). Idempotent; needs root or sudo for apt-get.
set -euo pipefail
need=()
for p in libzstd-dev liblz4-dev pkg-config; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
