#!/usr/bin/env bash
# Validates the Kubernetes manifests of deploy/k8s/ offline, with no cluster and
# nothing downloaded:
#  1. kubernetes-validate (requirements/dev.txt) checks every manifest against
#     the JSON schemas the package ships for one fixed Kubernetes version, with
#     --strict, so an unknown or misspelt field fails;
#  2. what a schema cannot see: a key written twice in one mapping (YAML keeps
#     the last one silently), selectors that match no pod template, a Service
#     targetPort or probe port name that no container declares, a ConfigMap,
#     Secret or ServiceAccount that no manifest defines, and kustomization.yaml
#     naming a missing file or forgetting a manifest.
# kustomization.yaml is kustomize's own file, not a Kubernetes object: it is not
# schema-checked. Exit status 0 only when everything passes.
#
#   scripts/k8s_validate.sh            # deploy/k8s
#   scripts/k8s_validate.sh DIR        # another folder laid out the same way
set -euo pipefail
cd "$(dirname "$0")/.."

# The Kubernetes version whose schemas are used (kubernetes-validate ships them,
# in its package folder kubernetes-json-schema/). Deliberately not the newest:
# managed clusters lag upstream, and a field added later must fail here.
K8S_VERSION="1.34.0"
VALIDATOR=.venv/bin/kubernetes-validate
PYTHON=.venv/bin/python
MANIFEST_DIR="${1:-deploy/k8s}"
# Manifests deliberately left out of kustomization.yaml (never applied as they are).
NOT_IN_KUSTOMIZATION="secrets.template.yaml"

if [ ! -x "$VALIDATOR" ]; then
  echo "$VALIDATOR is missing: make venv (requirements/lock/dev.txt)" >&2
  exit 1
fi

shopt -s nullglob
manifests=()
for file in "$MANIFEST_DIR"/*.yaml "$MANIFEST_DIR"/*.yml; do
  case "$(basename "$file")" in
    kustomization.yaml | kustomization.yml) ;;
    *) manifests+=("$file") ;;
  esac
done
if [ "${#manifests[@]}" -eq 0 ]; then
  echo "no manifests in $MANIFEST_DIR" >&2
  exit 1
fi

status=0

# 1. Schemas. Every file is validated, even after a failure, so one run lists them all.
output=$("$VALIDATOR" --strict --kubernetes-version "$K8S_VERSION" "${manifests[@]}" 2>&1) || status=1
printf '%s\n' "$output"
# kubernetes-validate only warns (exit 0) when it has no schema for a kind and
# apiVersion: a misspelt kind or an apiVersion that does not exist (apps/v2)
# would pass unchecked. Every manifest here is a built-in kind, so that fails.
if grep -q '^WARN' <<<"$output"; then
  echo "a warning above is a failure here: every manifest must be checked against a schema" >&2
  status=1
fi

# 2. Across manifests.
"$PYTHON" - "$MANIFEST_DIR" "$NOT_IN_KUSTOMIZATION" "${manifests[@]}" <<'PY' || status=1
import sys
from pathlib import Path

import yaml

manifest_dir, not_listed, files = Path(sys.argv[1]), set(sys.argv[2].split()), sys.argv[3:]
errors = []


class UniqueKeyLoader(yaml.SafeLoader):
    pass


def mapping_without_duplicates(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.MarkedYAMLError("while reading a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping_without_duplicates)


def load(path):
    try:
        return [doc for doc in yaml.load_all(Path(path).read_text(), Loader=UniqueKeyLoader) if doc]
    except yaml.YAMLError as exc:
        errors.append(f"{path}: {exc}")
        return []


objects = [(path, obj) for path in files for obj in load(path)]
defined = {(obj.get("kind"), obj.get("metadata", {}).get("name")) for _, obj in objects}

# Pod templates: (where, labels, pod spec).
templates = []
for path, obj in objects:
    template = obj.get("spec", {}).get("template")
    if obj.get("kind") in ("Deployment", "StatefulSet", "Job") and template:
        where = f"{path} {obj['kind']}/{obj['metadata']['name']}"
        labels = template.get("metadata", {}).get("labels", {})
        templates.append((where, labels, template.get("spec", {})))
        selector = obj["spec"].get("selector", {}).get("matchLabels", {})
        if obj["kind"] in ("Deployment", "StatefulSet") and (not selector or selector.items() - labels.items()):
            errors.append(f"{where}: spec.selector.matchLabels {selector} does not match the template's labels")


def containers(pod):
    return pod.get("initContainers", []) + pod.get("containers", [])


for where, _, pod in templates:
    account = pod.get("serviceAccountName")
    if account and ("ServiceAccount", account) not in defined:
        errors.append(f"{where}: serviceAccountName {account} is defined by no manifest")
    for c in containers(pod):
        refs = [("ConfigMap", e["configMapRef"]["name"]) for e in c.get("envFrom", []) if "configMapRef" in e]
        refs += [("Secret", e["secretRef"]["name"]) for e in c.get("envFrom", []) if "secretRef" in e]
        refs += [("ConfigMap", v["configMap"]["name"]) for v in pod.get("volumes", []) if "configMap" in v]
        refs += [("Secret", v["secret"]["secretName"]) for v in pod.get("volumes", []) if "secret" in v]
        for ref in refs:
            if ref not in defined:
                errors.append(f"{where}: container {c['name']} uses {ref[0]} {ref[1]}, defined by no manifest")
        port_names = {p.get("name") for p in c.get("ports", [])}
        mounts = {m["name"] for m in c.get("volumeMounts", [])}
        for missing in sorted(mounts - {v["name"] for v in pod.get("volumes", [])}):
            errors.append(f"{where}: container {c['name']} mounts volume {missing}, which the pod does not define")
        for probe_name in ("startupProbe", "livenessProbe", "readinessProbe"):
            probe = c.get(probe_name) or {}
            port = (probe.get("httpGet") or probe.get("tcpSocket") or {}).get("port")
            if isinstance(port, str) and port not in port_names:
                errors.append(f"{where}: {c['name']}.{probe_name} uses port {port!r}, not a named containerPort")

for path, obj in objects:
    kind, name = obj.get("kind"), obj.get("metadata", {}).get("name")
    if kind == "Service":
        selector = obj["spec"].get("selector", {})
    elif kind == "PodDisruptionBudget":
        selector = obj["spec"].get("selector", {}).get("matchLabels", {})
    else:
        continue
    matched = [t for t in templates if selector and not selector.items() - t[1].items()]
    if not matched:
        errors.append(f"{path} {kind}/{name}: selector {selector} matches no pod template")
    if kind == "Service":
        for port in obj["spec"].get("ports", []):
            target = port.get("targetPort")
            for where, _, pod in matched:
                names = {p.get("name") for c in pod.get("containers", []) for p in c.get("ports", [])}
                if isinstance(target, str) and target not in names:
                    errors.append(f"{path} Service/{name}: targetPort {target!r} is not a named port of {where}")

kustomization = manifest_dir / "kustomization.yaml"
listed = (load(kustomization) or [{}])[0].get("resources", [])
for resource in listed:
    if not (manifest_dir / resource).is_file():
        errors.append(f"{kustomization}: resource {resource} does not exist")
for path in files:
    name = Path(path).name
    if name not in listed and name not in not_listed:
        errors.append(f"{kustomization}: {name} is not listed in resources")
    if name in listed and name in not_listed:
        errors.append(f"{kustomization}: {name} must not be listed (it is a template)")

for error in errors:
    print(f"ERROR {error}")
if not errors:
    print(f"INFO cross-checks passed: {len(objects)} object(s), {len(templates)} pod template(s), {kustomization}")
sys.exit(1 if errors else 0)
PY

if [ "$status" -ne 0 ]; then
  echo "$MANIFEST_DIR: validation FAILED (Kubernetes $K8S_VERSION, strict)" >&2
  exit 1
fi
echo "$MANIFEST_DIR: ${#manifests[@]} manifest(s) valid for Kubernetes $K8S_VERSION (strict)"
