#!/usr/bin/env bash
# Installs what the browser tests need and Go modules cannot provide:
# Debian's chromium (headless). Without root (or apt) the browser tests skip
# with a message; everything else still runs.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: chromium is not installed and cannot be installed here (needs root and apt-get); browser tests will skip" >&2
  exit 0
fi
echo "installing Debian's chromium for the browser tests" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium >/dev/null
chromium --version >&2
