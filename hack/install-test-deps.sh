#!/usr/bin/env bash
# Installs what the browser tests need and Go modules cannot provide:
# Debian's chromium (headless, /usr/bin/chromium). Without root (or apt) the
# browser tests skip with a message and everything else still runs, except
# when $CI is set: CI must run the browser tests, so there a Chromium that
# cannot be installed is an error (and the tests fail without it).
set -euo pipefail
chromium=/usr/bin/chromium
if [ -x "$chromium" ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  if [ -n "${CI+set}" ]; then
    echo "error: CI is set but $chromium is missing and cannot be installed here (needs root and apt-get); the browser tests would fail" >&2
    exit 1
  fi
  echo "note: $chromium is not installed and cannot be installed here (needs root and apt-get); browser tests will skip" >&2
  exit 0
fi
echo "installing Debian's chromium for the browser tests" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium >/dev/null
"$chromium" --version >&2
