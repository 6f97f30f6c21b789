#!/usr/bin/env bash
# Validates the deployment offline: lints and renders the Helm chart with the default and
# the production-like values and checks every manifest against the Kubernetes 1.32 schemas.
# Tools come from PyPI into .venv-deploy/ (no helm binary or cluster needed).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-deploy
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import helm_python, kubernetes_validate, yaml" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "helm-python-sdk==0.2.2" "kubernetes-validate==1.37.0" "PyYAML>=6"
fi
exec "$venv/bin/python" scripts/validate_chart.py
