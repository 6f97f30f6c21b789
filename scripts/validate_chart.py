"""Renders the Helm chart offline and validates every manifest against the Kubernetes
schemas (scripts/validate-deploy.sh runs this in its own virtualenv). Also checks that
every NetworkPolicy egress rule names its destinations, that the production values connect
to PostgreSQL with sslmode=verify-full and a mounted CA, and that the chart refuses values
that would loosen either."""

import copy
import ipaddress
import posixpath
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import yaml
from helm_python import Chart, HelmError, lint

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "chart"
KUBERNETES = "1.32.0"
# Custom resources: their operators' schemas are not part of Kubernetes', so they are
# checked for shape here (apiVersion, kind, name, spec) but not against a schema.
CUSTOM = {"monitoring.coreos.com/v1", "configuration.konghq.com/v1"}
PRODUCTION = CHART / "values-production.yaml"
# An egress ipBlock spanning the whole internet must leave these out (values.yaml,
# "Database TLS and egress"): the cluster's and the corporate network's addresses.
PRIVATE = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}


def render(values_file):
    values = yaml.safe_load(values_file.read_text()) if values_file else {}
    return render_values(values)


def render_values(values):
    rendered = Chart.load(str(CHART)).render(
        values, name="coffeebuddy", namespace="coffeebuddy", revision=1, is_install=True
    )
    documents = []
    for path, text in sorted(rendered.items()):
        if path.endswith(".yaml"):
            documents += [d for d in yaml.safe_load_all(text) if d]
    return documents


def merged(base, override):
    """Helm's merge of an override into values: maps merge, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def egress_problems(documents):
    """Every egress rule names its destinations (`to`) and ports; none reaches private
    ranges through a 0.0.0.0/0 without `except`."""
    problems, rules = [], 0
    for policy in (d for d in documents if d["kind"] == "NetworkPolicy"):
        for i, rule in enumerate(policy["spec"].get("egress") or []):
            rules += 1
            where = f"NetworkPolicy/{policy['metadata']['name']} egress[{i}]"
            if not rule.get("to"):
                problems.append(f"{where} has no `to`: it allows its ports to any destination")
            if not rule.get("ports"):
                problems.append(f"{where} has no ports: it allows every port")
            for peer in rule.get("to") or []:
                block = peer.get("ipBlock")
                if block and ipaddress.ip_network(block["cidr"]).prefixlen == 0:
                    missing = PRIVATE - set(block.get("except") or [])
                    if missing:
                        problems.append(f"{where}: {block['cidr']} without except {sorted(missing)}")
    if not rules:
        problems.append("no NetworkPolicy egress rules rendered")
    return problems, rules


def database_tls_problems(documents):
    """Every container given DATABASE_URL (ConfigMap or inline) asks for verify-full with
    a sslrootcert that a volume of its pod provides."""
    problems, checked = [], []
    configmaps = {d["metadata"]["name"]: d.get("data") or {} for d in documents if d["kind"] == "ConfigMap"}
    for workload in (d for d in documents if d["kind"] in ("Deployment", "Job")):
        pod = workload["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes") or []}
        for container in pod["containers"]:
            where = f"{workload['kind']}/{workload['metadata']['name']}"
            url = None
            for source in container.get("envFrom") or []:
                if "configMapRef" in source:
                    url = configmaps.get(source["configMapRef"]["name"], {}).get("DATABASE_URL", url)
            for env in container.get("env") or []:
                if env["name"] == "DATABASE_URL" and "value" in env:
                    url = env["value"]
            if url is None:
                problems.append(f"{where}: no DATABASE_URL")
                continue
            query = parse_qs(urlsplit(url).query)
            if query.get("sslmode") != ["verify-full"]:
                problems.append(f"{where}: DATABASE_URL without sslmode=verify-full: {url}")
            roots = query.get("sslrootcert") or []
            if len(roots) != 1:
                problems.append(f"{where}: DATABASE_URL without one sslrootcert: {url}")
                continue
            directory, file = posixpath.split(roots[0])
            mount = next((m for m in container.get("volumeMounts") or [] if m["mountPath"].rstrip("/") == directory), None)
            volume = volumes.get(mount["name"]) if mount else None
            source = volume and (volume.get("secret") or volume.get("configMap"))
            if not source:
                problems.append(f"{where}: nothing from a Secret or ConfigMap is mounted at {directory}")
                continue
            items = source.get("items")
            if items is not None and file not in {item["path"] for item in items}:
                problems.append(f"{where}: the volume at {directory} has no {file}")
            checked.append(where)
    return problems, checked


def render_failure(values, expected):
    """None if rendering `values` fails with a message containing `expected`."""
    try:
        render_values(values)
    except HelmError as error:
        return None if expected in str(error) else f"failed, but not with {expected!r}: {error}"
    return f"rendered, but should have failed with {expected!r}"


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
        problems, rules = egress_problems(documents)
        if values_file == PRODUCTION:
            # Production reaches Slack through its proxy: nothing egresses to the internet.
            problems += [
                f"egress to {peer['ipBlock']['cidr']} (production goes through the proxy)"
                for rule in (r for d in documents if d["kind"] == "NetworkPolicy" for r in d["spec"]["egress"])
                for peer in rule["to"]
                if "ipBlock" in peer and ipaddress.ip_network(peer["ipBlock"]["cidr"]).prefixlen == 0
            ]
            tls_problems, checked = database_tls_problems(documents)
            problems += tls_problems
            print(f"{label}: database TLS (sslmode=verify-full, CA mounted) in {', '.join(checked)}")
        print(f"{label}: {rules} egress rules, each with `to` and ports: {problems or 'ok'}")
        failures += bool(problems)

    # Values the chart must refuse rather than render something looser.
    production = yaml.safe_load(PRODUCTION.read_text())
    refused = {
        "an empty destination for a used dependency": (
            merged(production, {"networkPolicy": {"egress": {"kafka": {"namespaces": [], "cidrs": []}}}}),
            "networkPolicy.egress.kafka has no destination",
        ),
        "Kafka in use with the defaults' empty Kafka destination": (
            {"config": {"kafkaBrokers": "kafka:9092"}},
            "networkPolicy.egress.kafka has no destination",
        ),
        "an egress rule without ports": (
            merged(production, {"networkPolicy": {"egress": {"postgres": {"ports": []}}}}),
            "networkPolicy.egress.postgres.ports is empty",
        ),
        "the old any-destination egressPorts": (
            {"networkPolicy": {"egressPorts": [5432]}},
            "networkPolicy.egressPorts",
        ),
        "database TLS without a CA source": (
            merged(production, {"database": {"tls": {"caSecret": ""}}}),
            "database.tls.enabled needs",
        ),
        "database TLS with a URL naming its own sslmode": (
            merged(production, {"config": {"databaseUrl": "postgres://u@h/db?sslmode=require"}}),
            "must not set sslmode",
        ),
    }
    for what, (values, expected) in refused.items():
        problem = render_failure(values, expected)
        print(f"refuses {what}: {problem or 'ok'}")
        failures += bool(problem)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
