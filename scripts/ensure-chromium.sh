#!/usr/bin/env bash
# Browser tests drive Debian's Chromium (never a browser download). Install it when
# missing: as root directly, otherwise through passwordless sudo. In CI a missing
# browser is an error; on a developer machine the browser tests then skip.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "ensure-chromium: /usr/bin/chromium is missing and this user cannot install it." >&2
    [ "${CI:-}" = "true" ] && exit 1
    echo "ensure-chromium: browser tests will be skipped (apt-get install chromium to run them)." >&2
    exit 0
  fi
fi
echo "ensure-chromium: installing Debian's chromium package..." >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
/usr/bin/chromium --version >&2
