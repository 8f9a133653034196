#!/usr/bin/env bash
# Set up a development/test environment on a fresh Debian/Ubuntu machine:
#   - system libraries for Qt under a virtual X server (Xvfb), when run as root with apt-get;
#   - .venv with the CPU build of torch and everything the tests need (napari, PyQt6, ...).
set -euo pipefail
cd "$(dirname "$0")/.."

QT_XVFB_PACKAGES="xvfb libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
  libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 libxcb-randr0 libxcb-shape0 libxcb-cursor0
  libegl1 libgl1 libfontconfig1 libdbus-1-3"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq $QT_XVFB_PACKAGES >/dev/null
elif ! command -v Xvfb >/dev/null 2>&1; then
  echo "note: install Xvfb and Qt's xcb libraries for the widget tests:" >&2
  echo "  sudo apt-get install -y $(echo $QT_XVFB_PACKAGES)" >&2
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"   # CPU build; bring your own CUDA build
.venv/bin/python -m pip install -q -e ".[test]"
