"""The Kubernetes manifests of deploy/k8s keep their hardening: trusted proxies,
one Secret per component, default-deny NetworkPolicies with the least egress.

Reads the YAML only; no cluster, no database.
"""

import functools
import ipaddress

import pytest
import yaml

from conftest import ROOT

pytestmark = pytest.mark.fast

K8S = ROOT / "deploy" / "k8s"
COMPONENTS = {"web", "worker", "relay", "beat", "migrate"}
KAFKA_PORTS = {9092, 9093}
ANY_PORT = "any"


@functools.cache
def _documents() -> dict[str, list[dict]]:
    """Every YAML file of deploy/k8s, by file name: its non-empty documents."""
    files = sorted([*K8S.glob("*.yaml"), *K8S.glob("*.yml")])
    assert files, f"no YAML in {K8S}"
    return {path.name: [doc for doc in yaml.safe_load_all(path.read_text()) if doc] for path in files}


def _objects(kind: str) -> list[dict]:
    return [doc for docs in _documents().values() for doc in docs if doc.get("kind") == kind]


def _secret_templates() -> dict[str, dict]:
    return {secret["metadata"]["name"]: secret for secret in _objects("Secret")}


def _workloads() -> dict[str, dict]:
    """Deployments, StatefulSets (the relays) and Jobs, by the component label of their pod template."""
    found = {}
    for workload in _objects("Deployment") + _objects("StatefulSet") + _objects("Job"):
        component = workload["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        assert component not in found, f"two workloads for component {component}"
        found[component] = workload
    return found


def _pod_labels() -> dict[str, dict]:
    return {c: w["spec"]["template"]["metadata"]["labels"] for c, w in _workloads().items()}


def _selects(selector: dict, labels: dict) -> bool:
    """A LabelSelector (matchLabels and matchExpressions) against a pod's labels."""
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        matched = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not matched:
            return False
    return True


def _policies_of(component: str) -> list[dict]:
    labels = _pod_labels()[component]
    return [p for p in _objects("NetworkPolicy") if _selects(p["spec"].get("podSelector") or {}, labels)]


def _egress_ports(component: str) -> set:
    """The TCP/UDP ports the component may open, ANY_PORT when a rule lists none."""
    ports: set = set()
    for policy in _policies_of(component):
        for rule in policy["spec"].get("egress") or []:
            if not rule.get("ports"):
                ports.add(ANY_PORT)
            for port in rule.get("ports") or []:
                number = port.get("port")
                if not isinstance(number, int):
                    ports.add(ANY_PORT)  # absent (every port) or a named port: assume the worst
                else:
                    ports.update(range(number, port.get("endPort", number) + 1))
    return ports


def _may_reach(component: str, wanted: set[int]) -> bool:
    ports = _egress_ports(component)
    return ANY_PORT in ports or bool(ports & wanted)


@pytest.mark.reliability(
    "Security hardening",
    "k8s: default-deny NetworkPolicies (ingress to web only; each component's egress to what it uses), one "
    "Secret per component, trusted proxies set",
)
def test_the_configmap_trusts_the_ingress_as_a_proxy():
    (config,) = _objects("ConfigMap")
    data = config["data"]

    assert data["BEHIND_PROXY"] == "true"
    proxies = [p.strip() for p in data.get("RATELIMIT_TRUSTED_PROXIES", "").split(",") if p.strip()]
    assert proxies, "RATELIMIT_TRUSTED_PROXIES is empty: production behind a proxy refuses to start"
    for proxy in proxies:
        ipaddress.ip_network(proxy, strict=False)  # an address or a CIDR, nothing else


@pytest.mark.reliability(
    "Security hardening",
    "k8s: default-deny NetworkPolicies (ingress to web only; each component's egress to what it uses), one "
    "Secret per component, trusted proxies set",
)
def test_every_workload_sets_its_role_and_takes_only_its_own_secret():
    workloads = _workloads()
    assert set(workloads) == COMPONENTS

    for component, workload in workloads.items():
        pod = workload["spec"]["template"]["spec"]
        for container in pod.get("initContainers", []) + pod["containers"]:
            where = f"{workload['metadata']['name']}/{container['name']}"
            roles = [e.get("value") for e in container.get("env", []) if e["name"] == "GATEWAY_ROLE"]
            assert roles == [component], where
            secrets = [e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e]
            assert secrets == [f"gateway-{component}-secrets"], where
            key_refs = [
                e["valueFrom"]["secretKeyRef"]["name"]
                for e in container.get("env", [])
                if "secretKeyRef" in (e.get("valueFrom") or {})
            ]
            assert set(key_refs) <= {f"gateway-{component}-secrets"}, where
        mounted = [v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v]
        assert mounted == [], workload["metadata"]["name"]


def test_every_component_has_a_secret_template_of_empty_placeholders():
    templates = _secret_templates()

    assert set(templates) == {f"gateway-{c}-secrets" for c in COMPONENTS}
    for name, secret in templates.items():
        assert "data" not in secret, name
        assert secret["stringData"], name
        assert all(value == "" for value in secret["stringData"].values()), name


@pytest.mark.reliability(
    "Security hardening",
    "k8s: default-deny NetworkPolicies (ingress to web only; each component's egress to what it uses), one "
    "Secret per component, trusted proxies set",
)
def test_the_relay_and_beat_secrets_hold_no_stripe_otp_or_email_key():
    templates = _secret_templates()
    forbidden = {"STRIPE_SECRET_KEY", "DJSTRIPE_SYNC_KEY", "OTP_SECRET", "EMAIL_URL"}

    for component in ("relay", "beat"):
        keys = set(templates[f"gateway-{component}-secrets"]["stringData"])
        assert keys & forbidden == set(), component


@pytest.mark.reliability(
    "Security hardening",
    "k8s: default-deny NetworkPolicies (ingress to web only; each component's egress to what it uses), one "
    "Secret per component, trusted proxies set",
)
def test_a_default_deny_network_policy_exists():
    deny_all = [
        p
        for p in _objects("NetworkPolicy")
        if not p["spec"].get("podSelector")
        and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]

    assert deny_all, "no NetworkPolicy with an empty podSelector, both policyTypes and no rules"


@pytest.mark.reliability(
    "Security hardening",
    "k8s: default-deny NetworkPolicies (ingress to web only; each component's egress to what it uses), one "
    "Secret per component, trusted proxies set",
)
def test_each_component_has_a_network_policy_and_only_web_accepts_ingress():
    accepting = set()
    for component in COMPONENTS:
        own = [p for p in _policies_of(component) if p["spec"].get("podSelector")]
        assert own, f"no NetworkPolicy selects the {component} pods"
        for policy in own:
            for rule in policy["spec"].get("ingress") or []:
                accepting.add(component)
                ports = {port.get("port") for port in rule.get("ports") or []}
                assert ports == {8085}, policy["metadata"]["name"]
                assert rule.get("from"), f"{policy['metadata']['name']}: ingress from anywhere"

    assert accepting == {"web"}


@pytest.mark.reliability(
    "Security hardening",
    "k8s: default-deny NetworkPolicies (ingress to web only; each component's egress to what it uses), one "
    "Secret per component, trusted proxies set",
)
def test_only_web_and_worker_may_reach_https():
    assert {c for c in COMPONENTS if _may_reach(c, {443})} == {"web", "worker"}


@pytest.mark.reliability(
    "Security hardening",
    "k8s: default-deny NetworkPolicies (ingress to web only; each component's egress to what it uses), one "
    "Secret per component, trusted proxies set",
)
def test_only_the_relay_may_reach_kafka():
    assert {c for c in COMPONENTS if _may_reach(c, KAFKA_PORTS)} == {"relay"}


def test_the_kustomization_lists_existing_files_and_no_secrets_template():
    (kustomization,) = _documents()["kustomization.yaml"]
    listed = kustomization["resources"]

    for resource in listed:
        assert (K8S / resource).is_file(), resource
        assert "template" not in resource, resource
        assert all(doc.get("kind") != "Secret" for doc in _documents()[resource]), resource
    assert "networkpolicy.yaml" in listed
