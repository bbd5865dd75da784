#!/usr/bin/env bash
# System packages the test suite needs: Debian's Chromium (Playwright drives it; browsers cannot be
# downloaded here) and CJK fonts so screenshots show Chinese. Installs only what is missing.
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
# not `grep -q`: it exits at the first match, fc-list dies of SIGPIPE, and pipefail calls the fonts missing
# (then apt-get runs for nothing, and two runs at once collide on its lock)
fc-list 2>/dev/null | grep -i "noto sans cjk" >/dev/null || need+=(fonts-noto-cjk)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
  echo "tests need: ${need[*]} (run as root or install them)"; exit 1; fi
echo "installing ${need[*]} …"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
