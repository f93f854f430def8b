#!/usr/bin/env bash
# Set up the Python anchors of `heddle-bench redis`: a virtualenv with RQ and Celery
# (and the redis client) from PyPI. Prints the venv's python on success; exits non-zero
# (and the bench skips the anchors, saying why) if they cannot be installed.
set -euo pipefail
venv="${1:?usage: redis_setup.sh VENV_DIR}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import rq, celery, celery.app, redis" 2>/dev/null; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q "rq>=1.15" "celery>=5.3" "redis>=5" packaging >&2
fi
"$venv/bin/python" -c "import rq, celery, celery.app, redis" >&2
echo "$venv/bin/python"
