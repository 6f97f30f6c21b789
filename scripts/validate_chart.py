"""Renders the Helm chart offline and validates every manifest against the Kubernetes
schemas (scripts/validate-deploy.sh runs this in its own virtualenv). Also checks that
every NetworkPolicy egress rule names its destinations; that the production values connect
to PostgreSQL with sslmode=verify-full and a mounted CA, and to Kafka over sasl_ssl with
the CA mounted in the worker pods where KAFKA_SSL_CA_LOCATION says, on the port the
egress rule allows; that only Slack goes through the outbound proxy, which the egress
rules let the pods reach; that Slack reaches the api pods as slack.socketMode says (HTTP: a
Kong route for /slack; Socket Mode: none, SLACK_APP_TOKEN from the Secret or from Vault,
and nothing else different); and that the chart refuses values that would loosen any of
it."""

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
KAFKA_FILES = ("KAFKA_SSL_CA_LOCATION", "KAFKA_SSL_CERTIFICATE_LOCATION", "KAFKA_SSL_KEY_LOCATION")
# Production with Vault off (SASL credentials from existingSecret) and a client certificate:
# the chart's other Kafka paths, rendered and schema-checked like the values files.
NO_VAULT_MTLS = {
    "vault": {"enabled": False},
    "kafka": {"tls": {"clientSecret": "coffeebuddy-kafka-client"}},
}
# Slack over Socket Mode (values.yaml, "slack"): the renders above again with it.
SOCKET_MODE = {"slack": {"socketMode": True}}
# Where Socket Mode's WebSocket goes (the URL apps.connections.open returns).
SLACK_WSS_HOST = "wss-primary.slack.com"


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


def configmaps(documents):
    return {d["metadata"]["name"]: d.get("data") or {} for d in documents if d["kind"] == "ConfigMap"}


def workloads(documents):
    """(where, workload, pod spec, container) for every container of every Deployment and Job."""
    for workload in (d for d in documents if d["kind"] in ("Deployment", "Job")):
        pod = workload["spec"]["template"]["spec"]
        for container in pod["containers"]:
            yield f"{workload['kind']}/{workload['metadata']['name']}", workload, pod, container


def component(workload):
    return workload["metadata"].get("labels", {}).get("app.kubernetes.io/component")


def container_env(container, maps):
    """The container's plain values: its ConfigMaps' (envFrom), then its env `value`s."""
    env = {}
    for source in container.get("envFrom") or []:
        if "configMapRef" in source:
            env.update(maps.get(source["configMapRef"]["name"], {}))
    for entry in container.get("env") or []:
        if "value" in entry:
            env[entry["name"]] = entry["value"]
    return env


def secret_refs(container):
    """{name: secretKeyRef} for the container's env entries taken from a Secret."""
    return {
        entry["name"]: entry["valueFrom"]["secretKeyRef"]
        for entry in container.get("env") or []
        if "secretKeyRef" in (entry.get("valueFrom") or {})
    }


def mounted_file_problem(where, pod, container, path):
    """None if `path` is a file that a Secret or ConfigMap volume of the pod provides."""
    directory, file = posixpath.split(path)
    mount = next((m for m in container.get("volumeMounts") or [] if m["mountPath"].rstrip("/") == directory), None)
    volume = {v["name"]: v for v in pod.get("volumes") or []}.get(mount["name"]) if mount else None
    source = volume and (volume.get("secret") or volume.get("configMap"))
    if not source:
        return f"{where}: nothing from a Secret or ConfigMap is mounted at {directory}"
    items = source.get("items")
    if items is not None and file not in {item["path"] for item in items}:
        return f"{where}: the volume at {directory} has no {file}"
    return None


def database_tls_problems(documents):
    """Every container given DATABASE_URL (ConfigMap or inline) asks for verify-full with
    a sslrootcert that a volume of its pod provides."""
    problems, checked = [], []
    maps = configmaps(documents)
    for where, _, pod, container in workloads(documents):
        url = container_env(container, maps).get("DATABASE_URL")
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
        problem = mounted_file_problem(where, pod, container, roots[0])
        if problem:
            problems.append(problem)
            continue
        checked.append(where)
    return problems, checked


def namespace_of(host):
    """The namespace of an in-cluster Service name (<name>.<namespace>.svc[.cluster.local]
    or a pod under it), else None."""
    labels = host.lower().rstrip(".").split(".")
    for suffix in (["svc", "cluster", "local"], ["svc"]):
        if labels[-len(suffix):] == suffix and len(labels) - len(suffix) >= 2:
            return labels[-len(suffix) - 1]
    return None


def egress_ports(documents, namespace):
    """TCP ports the NetworkPolicies let the pods reach in `namespace`."""
    ports = set()
    for policy in (d for d in documents if d["kind"] == "NetworkPolicy"):
        for rule in policy["spec"].get("egress") or []:
            names = {
                (peer.get("namespaceSelector") or {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
                for peer in rule.get("to") or []
            }
            if namespace in names:
                ports |= {p["port"] for p in rule.get("ports") or [] if p.get("protocol", "TCP") == "TCP"}
    return ports


def kafka_problems(documents, protocol, mechanism, *, ca, client, sasl_secret):
    """Kafka as the worker pods see it: the protocol and mechanism; KAFKA_SSL_CA_LOCATION
    (with `ca`) and the client certificate and key (with `client`) naming files mounted from
    a Secret or ConfigMap, in worker pods only; SASL credentials from existingSecret's
    optional keys (with `sasl_secret`) or from nowhere (Vault); and egress to every
    broker's namespace on exactly the brokers' ports."""
    problems, notes = [], []
    maps = configmaps(documents)
    workers = 0
    for where, workload, pod, container in workloads(documents):
        env = container_env(container, maps)
        refs = secret_refs(container)
        if env.get("KAFKA_SECURITY_PROTOCOL") != protocol:
            problems.append(f"{where}: KAFKA_SECURITY_PROTOCOL={env.get('KAFKA_SECURITY_PROTOCOL')}, not {protocol}")
        if env.get("KAFKA_SASL_MECHANISM") != mechanism:
            problems.append(f"{where}: KAFKA_SASL_MECHANISM={env.get('KAFKA_SASL_MECHANISM')}, not {mechanism}")
        if sasl_secret and component(workload) == "worker":
            for name, key in (("KAFKA_SASL_USERNAME", "kafka-sasl-username"), ("KAFKA_SASL_PASSWORD", "kafka-sasl-password")):
                ref = refs.get(name)
                if not ref or ref.get("key") != key or not ref.get("optional"):
                    problems.append(f"{where}: {name} is not the optional key {key} of a Secret: {ref}")
        elif sasl_secret:
            # Only the workers' relay connects, and only it checks Kafka's settings.
            problems += [f"{where}: {name} outside the workers" for name in refs if name.startswith("KAFKA_SASL_")]
        else:
            problems += [f"{where}: {name} from a Secret (Vault supplies it)" for name in refs if name.startswith("KAFKA_SASL_")]
        files = {name: env[name] for name in KAFKA_FILES if name in env}
        if component(workload) != "worker":
            # The service refuses to start when a named file cannot be read, and only
            # worker pods mount them.
            problems += [f"{where}: {name} outside the worker pods" for name in files]
            continue
        workers += 1
        wanted = {"KAFKA_SSL_CA_LOCATION": ca, "KAFKA_SSL_CERTIFICATE_LOCATION": client, "KAFKA_SSL_KEY_LOCATION": client}
        for name, expected in wanted.items():
            if expected and name not in files:
                problems.append(f"{where}: no {name}")
            elif not expected and name in files:
                problems.append(f"{where}: {name} set without being configured")
            elif name in files:
                problem = mounted_file_problem(where, pod, container, files[name])
                if problem:
                    problems.append(problem)
                else:
                    notes.append(f"{name}={files[name]} mounted in {where}")
        brokers = env.get("KAFKA_BROKERS", "")
        by_namespace = {}
        for broker in filter(None, (b.strip() for b in brokers.split(","))):
            host, _, port = broker.rpartition(":")
            namespace = namespace_of(host)
            if namespace is None or not port.isdigit():
                problems.append(f"{where}: cannot tell which egress rule reaches broker {broker}")
                continue
            by_namespace.setdefault(namespace, set()).add(int(port))
        for namespace, ports in sorted(by_namespace.items()):
            allowed = egress_ports(documents, namespace)
            if allowed != ports:
                problems.append(
                    f"egress to namespace {namespace} allows TCP {sorted(allowed)}, the brokers there listen on {sorted(ports)}"
                )
            else:
                notes.append(f"egress to the brokers in {namespace} on {sorted(ports)}, their port")
        if not by_namespace:
            problems.append(f"{where}: no KAFKA_BROKERS")
    if not workers:
        problems.append("no worker Deployment")
    return problems, sorted(set(notes))


def no_proxy_matches(no_proxy, host):
    """Whether `host` bypasses the proxy under NO_PROXY, by the service's HTTP client's
    rules (reqwest/hyper-util, after curl): `*`; an IP or CIDR; else a domain, with or
    without a leading dot, matching itself and its subdomains."""
    host = host.lower().rstrip(".")
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            domain = entry.lstrip(".")
            if host == domain or host.endswith("." + domain):
                return True
            continue
        try:
            if ipaddress.ip_address(host) in network:
                return True
        except ValueError:
            pass
    return False


def proxy_problems(documents):
    """With HTTPS_PROXY: only Slack goes through it (Vault and the OIDC issuer match
    NO_PROXY, Slack does not), and the egress rules let the pods reach the proxy's port."""
    problems, notes = [], []
    for where, _, _, container in workloads(documents):
        env = container_env(container, configmaps(documents))
        proxy = env.get("HTTPS_PROXY")
        if not proxy:
            problems.append(f"{where}: no HTTPS_PROXY")
            continue
        no_proxy = env.get("NO_PROXY", "")
        slack = urlsplit(env["SLACK_API_URL"]).hostname
        if no_proxy_matches(no_proxy, slack):
            problems.append(f"{where}: Slack's {slack} matches NO_PROXY, so it would not go through the proxy")
        direct = {"VAULT_ADDR": env.get("VAULT_ADDR"), "OIDC_ISSUER": env.get("OIDC_ISSUER"), "OIDC_JWKS_URL": env.get("OIDC_JWKS_URL")}
        for name, url in direct.items():
            if url and not no_proxy_matches(no_proxy, urlsplit(url).hostname):
                problems.append(f"{where}: {name}'s host {urlsplit(url).hostname} is not in NO_PROXY, so it would go through the proxy")
        proxy_url = urlsplit(proxy)
        namespace = namespace_of(proxy_url.hostname)
        port = proxy_url.port or {"http": 80, "https": 443}[proxy_url.scheme]
        if namespace is None:
            problems.append(f"{where}: cannot tell which egress rule reaches the proxy {proxy}")
        elif port not in egress_ports(documents, namespace):
            problems.append(f"no egress to the proxy {proxy}: namespace {namespace} port {port}")
        else:
            notes.append(f"Slack via {proxy} (egress to {namespace}:{port}); Vault and OIDC direct (NO_PROXY)")
    return problems, sorted(set(notes))


def ingress_paths(documents):
    """{path: Ingress name} for every path of every Ingress rule."""
    return {
        path["path"]: ingress["metadata"]["name"]
        for ingress in documents
        if ingress["kind"] == "Ingress"
        for rule in ingress["spec"].get("rules") or []
        for path in (rule.get("http") or {}).get("paths") or []
    }


def is_slack_route(path):
    return path == "/slack" or path.startswith("/slack/")


def slack_problems(documents, values):
    """How Slack reaches the api pods, by the values (over the chart's defaults). Always a
    Kong route for /api/v1. HTTP: a route for /slack and SLACK_APP_TOKEN nowhere. Socket
    Mode: no route for /slack; with Vault off, the api pods (and only they) take
    SLACK_APP_TOKEN from existingSecret's key slack-app-token, not optional; with Vault on,
    no pod has it (the service reads Vault's app_token); and through a proxy, the WebSocket's
    host does not match NO_PROXY."""
    effective = merged(yaml.safe_load((CHART / "values.yaml").read_text()), values or {})
    socket_mode = effective["slack"]["socketMode"]
    vault = effective["vault"]["enabled"]
    secret = effective["existingSecret"]
    problems, notes = [], []
    paths = ingress_paths(documents)
    slack_routes = sorted(p for p in paths if is_slack_route(p))
    if "/api/v1" not in paths:
        problems.append("no Kong route for /api/v1")
    if socket_mode and slack_routes:
        problems.append(f"Socket Mode, yet Kong routes {slack_routes} (Ingress/{paths[slack_routes[0]]})")
    elif not socket_mode and not slack_routes:
        problems.append("no Kong route for /slack: Slack's HTTP requests would not arrive")
    else:
        notes.append(f"Kong routes {sorted(paths)}")
    maps = configmaps(documents)
    tokens = 0
    for where, workload, _, container in workloads(documents):
        env = container_env(container, maps)
        ref = secret_refs(container).get("SLACK_APP_TOKEN")
        api = component(workload) == "api"
        if socket_mode and not vault and api:
            tokens += 1
            if not ref or ref.get("name") != secret or ref.get("key") != "slack-app-token" or ref.get("optional"):
                problems.append(f"{where}: SLACK_APP_TOKEN is not the required key slack-app-token of Secret {secret}: {ref}")
            else:
                notes.append(f"SLACK_APP_TOKEN from Secret {secret} key slack-app-token (required) in {where}")
        elif ref or "SLACK_APP_TOKEN" in env:
            why = "Vault supplies app_token" if socket_mode and vault else "only Socket Mode's api pods use it"
            problems.append(f"{where}: SLACK_APP_TOKEN set ({why})")
        if socket_mode and api and env.get("HTTPS_PROXY"):
            if no_proxy_matches(env.get("NO_PROXY", ""), SLACK_WSS_HOST):
                problems.append(f"{where}: {SLACK_WSS_HOST} matches NO_PROXY, so the WebSocket would not go through the proxy")
            else:
                notes.append(f"the WebSocket to {SLACK_WSS_HOST} via {env['HTTPS_PROXY']}")
    if socket_mode and not vault and not tokens:
        problems.append("Socket Mode without Vault, but no api Deployment to give SLACK_APP_TOKEN")
    if socket_mode and vault:
        notes.append("no SLACK_APP_TOKEN in any pod (Vault's coffeebuddy/slack app_token)")
    return problems, sorted(set(notes))


def socket_mode_changes(http, socket):
    """What Socket Mode changes besides dropping the /slack Ingress and giving the api pods
    SLACK_APP_TOKEN: the two renders with those taken out, object by object."""

    def comparable(documents):
        out = {}
        for document in copy.deepcopy(documents):
            if document["kind"] == "Ingress" and any(is_slack_route(p) for p in ingress_paths([document])):
                continue
            if document["kind"] in ("Deployment", "Job"):
                for container in document["spec"]["template"]["spec"]["containers"]:
                    if "env" in container:
                        container["env"] = [e for e in container["env"] if e["name"] != "SLACK_APP_TOKEN"]
            out[f"{document['kind']}/{document['metadata']['name']}"] = document
        return out

    before, after = comparable(http), comparable(socket)
    return [
        f"{key} differs in Socket Mode beyond /slack and SLACK_APP_TOKEN"
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key)
    ]


def render_failure(values, expected):
    """None if rendering `values` fails with a message containing `expected`."""
    try:
        render_values(values)
    except HelmError as error:
        return None if expected in str(error) else f"failed, but not with {expected!r}: {error}"
    return f"rendered, but should have failed with {expected!r}"


def main():
    failures = 0
    production = yaml.safe_load(PRODUCTION.read_text())
    no_vault_mtls = merged(production, NO_VAULT_MTLS)
    renders = [
        ("default values", None),
        (PRODUCTION.name, production),
        (f"{PRODUCTION.name} without Vault, with a Kafka client certificate", no_vault_mtls),
        (f"{PRODUCTION.name} in Socket Mode", merged(production, SOCKET_MODE)),
        (f"{PRODUCTION.name} without Vault, with a Kafka client certificate, in Socket Mode",
         merged(no_vault_mtls, SOCKET_MODE)),
    ]
    # Each Socket Mode render's HTTP counterpart, which it must equal but for Slack's route
    # and token.
    counterparts = {renders[3][0]: renders[1][0], renders[4][0]: renders[2][0]}
    rendered = {}
    for label, values in renders:
        report = lint(str(CHART), values, strict=True, kube_version="v1.32.0")
        problems = report.get("errors") or [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
        print(f"helm lint ({label}): {problems or 'clean'}")
        failures += bool(problems)
    for label, values in renders:
        documents = render_values(values or {})
        rendered[label] = documents
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
        if values is not None:
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
            mtls = bool(values["kafka"]["tls"].get("clientSecret"))
            sasl_secret = not values["vault"]["enabled"]
            kafka, notes = kafka_problems(
                documents, "sasl_ssl", "SCRAM-SHA-512", ca=True, client=mtls, sasl_secret=sasl_secret
            )
            problems += kafka
            sasl = "existingSecret's optional kafka-sasl-* keys" if sasl_secret else "Vault (no Secret)"
            print(f"{label}: Kafka sasl_ssl/SCRAM-SHA-512, SASL credentials from {sasl}; {'; '.join(notes)}")
            proxy, notes = proxy_problems(documents)
            problems += proxy
            print(f"{label}: {'; '.join(notes)}")
        print(f"{label}: {rules} egress rules, each with `to` and ports: {problems or 'ok'}")
        failures += bool(problems)
        slack, notes = slack_problems(documents, values)
        if label in counterparts:
            slack += socket_mode_changes(rendered[counterparts[label]], documents)
            notes.append(f"otherwise the same objects as {counterparts[label]}")
        mode = "Socket Mode" if label in counterparts else "over HTTP"
        print(f"{label}: Slack {mode}: {slack or '; '.join(notes)}")
        failures += bool(slack)

    # The defaults in Socket Mode (Vault off, no proxy): only Slack's route and token change.
    label = "default values in Socket Mode"
    documents = render_values(SOCKET_MODE)
    slack, notes = slack_problems(documents, SOCKET_MODE)
    slack += socket_mode_changes(rendered["default values"], documents)
    notes.append("otherwise the same objects as default values")
    print(f"{label}: Slack Socket Mode: {slack or '; '.join(notes)}")
    failures += bool(slack)

    # Values the chart must refuse rather than render something looser.
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
        "a Kafka CA with the default plaintext protocol": (
            {"config": {"kafkaBrokers": "kafka:9092"}, "kafka": {"tls": {"caSecret": "kafka-ca"}},
             "networkPolicy": {"egress": {"kafka": {"namespaces": ["kafka"]}}}},
            "kafka.tls.caSecret is set but config.kafkaSecurityProtocol=plaintext uses no TLS",
        ),
        "a Kafka CA (ConfigMap) with sasl_plaintext": (
            merged(production, {"config": {"kafkaSecurityProtocol": "sasl_plaintext"},
                                "kafka": {"tls": {"caSecret": "", "caConfigMap": "kafka-ca"}}}),
            "kafka.tls.caConfigMap is set but config.kafkaSecurityProtocol=sasl_plaintext uses no TLS",
        ),
        "a Kafka client certificate with plaintext": (
            merged(production, {"config": {"kafkaSecurityProtocol": "plaintext", "kafkaSaslMechanism": ""},
                                "kafka": {"tls": {"caSecret": "", "clientSecret": "kafka-client"}}}),
            "kafka.tls.clientSecret is set but config.kafkaSecurityProtocol=plaintext uses no TLS",
        ),
        "a Kafka CA from both a Secret and a ConfigMap": (
            merged(production, {"kafka": {"tls": {"caConfigMap": "kafka-ca"}}}),
            "kafka.tls: set caSecret or caConfigMap, not both",
        ),
        "SASL without a mechanism": (
            merged(production, {"config": {"kafkaSaslMechanism": ""}}),
            "config.kafkaSecurityProtocol=sasl_ssl needs config.kafkaSaslMechanism",
        ),
        "a SASL mechanism without SASL": (
            merged(production, {"config": {"kafkaSecurityProtocol": "ssl"}}),
            "config.kafkaSaslMechanism is set but config.kafkaSecurityProtocol=ssl uses no SASL",
        ),
        "an unknown Kafka security protocol": (
            merged(production, {"config": {"kafkaSecurityProtocol": "SASL_SSL"}}),
            'config.kafkaSecurityProtocol is "SASL_SSL"',
        ),
    }
    for what, (values, expected) in refused.items():
        problem = render_failure(values, expected)
        print(f"refuses {what}: {problem or 'ok'}")
        failures += bool(problem)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
