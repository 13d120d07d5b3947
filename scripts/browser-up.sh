#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium for the browser tests (playwright-core drives
# it; no browser is ever downloaded by npm), installing it with apt-get when it is missing.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ ! -x "$CHROMIUM" ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "browser-up: $CHROMIUM is missing and this machine has no apt-get; install Chromium there by hand" >&2
    exit 1
  fi
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "browser-up: $CHROMIUM is missing; run as root (or install sudo) so apt-get can install chromium" >&2
      exit 1
    fi
    SUDO=(sudo)
  fi
  echo "browser-up: installing Debian's chromium with apt-get"
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

if [ ! -x "$CHROMIUM" ]; then
  echo "browser-up: apt-get finished but $CHROMIUM is still missing" >&2
  exit 1
fi
# Headless: --version needs no display; it fails only when the binary cannot run here.
"$CHROMIUM" --headless --no-sandbox --version
