# Sourced by scripts/run, scripts/test and scripts/demo (from the project root):
# `install_into_venv ""` or `install_into_venv test` makes .venv hold the bot (and the
# extras named) for this very pyproject.toml, saying what it does while it installs.
#
# An install is recorded in .venv/installed-<extras> as a hash of pyproject.toml, the
# extras, the Python version and the project's folder. When that record is current the
# install is skipped: a start of the bot then costs no pip run at all. Any change to
# pyproject.toml (a new dependency) or a moved folder installs again.

install_fingerprint() {
  local record="$1" # "base" or the extras' name
  {
    cat pyproject.toml
    printf 'record=%s\nfolder=%s\n' "$record" "$PWD"
    .venv/bin/python -c 'import sys; print(sys.version)'
  } | .venv/bin/python -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'
}

install_is_current() {
  # The test extras include everything the bot needs, so their record serves a run too.
  local record
  for record in "$1" test; do
    if [ -f ".venv/installed-$record" ] &&
      [ "$(cat ".venv/installed-$record")" = "$(install_fingerprint "$record")" ]; then
      return 0
    fi
  done
  return 1
}

# pip's output, as it comes: one short line per package it looks at, then a count.
pip_progress() {
  local count=0 line
  while IFS= read -r line; do
    case "$line" in
      Collecting\ *)
        count=$((count + 1))
        line="${line#Collecting }"
        printf '  %s\n' "${line%% (from *}"
        ;;
      Obtaining\ file:*) printf '  alliance-checkin (this folder)\n' ;;
      ERROR:* | error:*) printf '%s\n' "$line" >&2 ;;
    esac
  done
  if [ "$count" -gt 0 ]; then printf '  (%d packages)\n' "$count"; fi
}

install_into_venv() {
  local extras="$1" record="${1:-base}" target="." started
  if [ -n "$extras" ]; then target=".[$extras]"; fi
  if [ -x .venv/bin/python ] && install_is_current "$record"; then
    return 0
  fi
  started=$(date +%s)
  if [ ! -x .venv/bin/python ]; then
    echo "Creating a virtual environment in .venv ..."
    python3 -m venv .venv
  fi
  echo "Installing Alliance Check-in${extras:+ with its $extras extras} into .venv" \
    "(a minute or two the first time; later starts skip this) ..."
  # pip's full output goes to .venv/pip.log; the screen gets one line per package.
  # Unbuffered, so each line shows as pip gets to it.
  if ! {
    export PYTHONUNBUFFERED=1
    .venv/bin/python -m pip install --disable-pip-version-check --quiet --upgrade pip &&
      .venv/bin/python -m pip install --disable-pip-version-check --progress-bar off -e "$target"
  } 2>&1 | tee .venv/pip.log | pip_progress; then
    echo "The install failed; pip's full output is in .venv/pip.log" >&2
    return 1
  fi
  install_fingerprint "$record" >".venv/installed-$record"
  echo "Installed in $(($(date +%s) - started)) s."
}
