"""Renders the Helm chart offline and validates every manifest against the Kubernetes
schemas (scripts/validate-deploy.sh runs this in its own virtualenv)."""

import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from helm_python import Chart, lint

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "chart"
KUBERNETES = "1.32.0"
# Custom resources: their operators' schemas are not part of Kubernetes', so they are
# checked for shape here (apiVersion, kind, name, spec) but not against a schema.
CUSTOM = {"monitoring.coreos.com/v1", "configuration.konghq.com/v1"}


def render(values_file):
    values = yaml.safe_load(values_file.read_text()) if values_file else {}
    rendered = Chart.load(str(CHART)).render(
        values, name="coffeebuddy", namespace="coffeebuddy", revision=1, is_install=True
    )
    documents = []
    for path, text in sorted(rendered.items()):
        if path.endswith(".yaml"):
            documents += [d for d in yaml.safe_load_all(text) if d]
    return documents


def main():
    failures = 0
    for values_file in [None, CHART / "values-production.yaml"]:
        values = yaml.safe_load(values_file.read_text()) if values_file else None
        report = lint(str(CHART), values, strict=True, kube_version="v1.32.0")
        problems = report.get("errors") or [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
        print(f"helm lint ({values_file.name if values_file else 'default values'}): {problems or 'clean'}")
        failures += bool(problems)
    for values_file in [None, CHART / "values-production.yaml"]:
        label = values_file.name if values_file else "default values"
        documents = render(values_file)
        kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in documents)
        print(f"{label}: {len(documents)} manifests: {', '.join(kinds)}")
        standard = [d for d in documents if d["apiVersion"] not in CUSTOM]
        for custom in (d for d in documents if d["apiVersion"] in CUSTOM):
            assert custom.get("metadata", {}).get("name"), custom
            assert "spec" in custom or "config" in custom, custom
            print(f"  not schema-checked (custom resource): {custom['kind']}/{custom['metadata']['name']}")
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for i, document in enumerate(standard):
                path = Path(tmp) / f"{i:02d}-{document['kind']}.yaml"
                path.write_text(yaml.safe_dump(document))
                paths.append(str(path))
            check = subprocess.run(
                [sys.executable, "-m", "kubernetes_validate", "-k", KUBERNETES, "--strict", *paths],
                capture_output=True,
                text=True,
            )
            print(check.stdout.strip())
            if check.returncode != 0:
                print(check.stderr, file=sys.stderr)
                failures += 1
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
