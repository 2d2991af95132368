#!/usr/bin/env python3
"""Checks the Kubernetes manifests and the CoreDNS Helm chart values in this directory.

Offline, with PyYAML only (Debian's python3-yaml): every file parses, the objects refer to
each other consistently (selectors, ports, volumes, the Secret's keys), the probes reach
the Corefile's `health` and `ready`, the Corefile has an etcdhosts block whose files are
mounted, and the security settings are the restrictive ones. Prints one line per problem
and exits 1 if there is any.

    python3 check.py [DIR]
    python3 check.py --corefile configmap|helm    (prints that Corefile; check.sh runs it)
"""

import re
import sys
from pathlib import Path

import yaml

PRINT = sys.argv[2] if len(sys.argv) > 2 and sys.argv[1] == "--corefile" else None
DIR = Path(sys.argv[1] if len(sys.argv) > 1 and not PRINT else Path(__file__).parent)
ROOT = Path(__file__).resolve().parents[2]
problems = []


def check(ok, message):
    if not ok:
        problems.append(message)
    return ok


def load(name):
    with open(DIR / name) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def corefile_problems(corefile, where, mounts, secret_keys):
    """The Corefile's health/ready and etcdhosts block, against the container's mounts
    ({path: (kind, writable)}) and the TLS Secret's keys."""
    check(corefile.count("{") == corefile.count("}"), f"{where}: unbalanced braces")
    check(re.search(r"^\s*health(\s+:8080)?(\s*\{|\s*$)", corefile, re.M),
          f"{where}: no `health` on :8080 (the liveness probe's)")
    check(re.search(r"^\s*ready(\s+:8181)?\s*$", corefile, re.M),
          f"{where}: no `ready` on :8181 (the readiness probe's)")
    block = re.search(r"^\s*etcdhosts\b[^{\n]*\{(.*?)^\s*\}", corefile, re.M | re.S)
    if not check(block, f"{where}: no etcdhosts block"):
        return
    body = block.group(1)
    check(re.search(r"^\s*endpoint\s+\S+", body, re.M), f"{where}: etcdhosts has no endpoint")
    check(re.search(r"^\s*key\s+/\S*", body, re.M), f"{where}: etcdhosts has no key")

    def mounted(path):
        return [(m, v) for m, v in mounts.items() if path.startswith(m.rstrip("/") + "/")]

    tls = re.search(r"^\s*tls\s+(\S+)\s+(\S+)\s+(\S+)", body, re.M)
    if check(tls, f"{where}: etcdhosts has no `tls CERT KEY CACERT` line"):
        for path in tls.groups():
            under = mounted(path)
            if check(under and under[0][1][0] == "secret", f"{where}: {path} is not in a mounted Secret"):
                check(Path(path).name in secret_keys, f"{where}: the Secret has no key {Path(path).name}")
    snapshot = re.search(r"^\s*snapshot\s+(\S+)", body, re.M)
    if check(snapshot, f"{where}: etcdhosts has no snapshot"):
        under = mounted(snapshot.group(1))
        check(under and under[0][1][1], f"{where}: the snapshot {snapshot.group(1)} is not on a writable volume")


def security_problems(pod_sc, sc, where):
    def either(key):
        return sc.get(key, pod_sc.get(key))

    check(either("runAsNonRoot") is True, f"{where}: runAsNonRoot is not true")
    check(sc.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem is not true")
    check(sc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation is not false")
    caps = sc.get("capabilities", {})
    check(caps.get("drop") == ["ALL"], f"{where}: capabilities do not drop ALL")
    check(caps.get("add") == ["NET_BIND_SERVICE"], f"{where}: capabilities add more or less than NET_BIND_SERVICE")
    check((either("seccompProfile") or {}).get("type") == "RuntimeDefault",
          f"{where}: seccompProfile is not RuntimeDefault")
    user = either("runAsUser")
    check(user in (None, IMAGE_UID), f"{where}: runAsUser {user} is not the image's user {IMAGE_UID}")


# The image: the Dockerfile's user, and the ports it exposes.
dockerfile = (ROOT / "Dockerfile").read_text()
IMAGE_UID = int(re.search(r"^USER (\d+)", dockerfile, re.M).group(1))
exposed = set(re.findall(r"\b(\d+)(?:/(?:tcp|udp))?\b", re.search(r"^EXPOSE (.*)$", dockerfile, re.M).group(1)))
# The variables dnsctl reads.
dnsctl_env = set(re.findall(r'"((?:ETCDCTL|DNSCTL)_[A-Z_]+)"', (ROOT / "dnsctl/src/config.rs").read_text()))

# ---- the manifests ----
kustomization = load("kustomization.yaml")[0]
files = sorted(p.name for p in DIR.glob("*.yaml") if p.name not in ("kustomization.yaml", "helm-values.yaml"))
check(sorted(kustomization.get("resources", [])) == files,
      f"kustomization.yaml lists {sorted(kustomization.get('resources', []))}, the directory has {files}")

objects = {}
for name in files:
    for doc in load(name):
        for field in ("apiVersion", "kind", "metadata"):
            check(field in doc, f"{name}: no {field}")
        key = (doc.get("kind"), doc.get("metadata", {}).get("name"))
        check(key not in objects, f"{name}: {key} defined twice")
        objects[key] = doc
        if doc.get("kind") != "Namespace":
            check(doc["metadata"].get("namespace") == "etcdhosts", f"{name}: {key} not in namespace etcdhosts")


def one(kind):
    found = [o for (k, _), o in objects.items() if k == kind]
    check(len(found) == 1, f"{len(found)} {kind} objects, expected 1")
    return found[0] if found else {}


deployment, service, pdb = one("Deployment"), one("Service"), one("PodDisruptionBudget")
configmap, secret = one("ConfigMap"), one("Secret")
spec = deployment.get("spec", {})
pod = spec.get("template", {})
labels = pod.get("metadata", {}).get("labels", {})
for what, selector in [("Deployment", spec.get("selector", {}).get("matchLabels", {})),
                       ("Service", service.get("spec", {}).get("selector", {})),
                       ("PodDisruptionBudget", pdb.get("spec", {}).get("selector", {}).get("matchLabels", {}))]:
    check(selector and selector.items() <= labels.items(), f"{what}'s selector {selector} does not select the pods {labels}")
replicas = spec.get("replicas", 1)
check(0 < pdb.get("spec", {}).get("minAvailable", 0) < replicas,
      f"the PodDisruptionBudget's minAvailable must be below the {replicas} replicas")

pod_spec = pod.get("spec", {})
containers = pod_spec.get("containers", [])
check(len(containers) == 1, "the pod should have one container")
c = containers[0] if containers else {}
ports = {p["name"]: p for p in c.get("ports", [])}
check(len(ports) == len(c.get("ports", [])), "container port names are not unique")
for p in c.get("ports", []):
    check(str(p["containerPort"]) in exposed, f"port {p['containerPort']} is not EXPOSEd by the Dockerfile")
for sp in service.get("spec", {}).get("ports", []):
    target = ports.get(sp.get("targetPort"))
    if check(target, f"Service port {sp.get('name')}: targetPort {sp.get('targetPort')} is no container port"):
        check(target.get("protocol", "TCP") == sp.get("protocol", "TCP"), f"Service port {sp['name']}: protocol differs")


def probe(kind, path, port):
    get = c.get(kind, {}).get("httpGet", {})
    number = ports.get(get.get("port"), {}).get("containerPort", get.get("port"))
    check(get.get("path") == path and number == port, f"{kind} is not GET {path} on :{port}")


probe("livenessProbe", "/health", 8080)
probe("readinessProbe", "/ready", 8181)
security_problems(pod_spec.get("securityContext", {}), c.get("securityContext", {}), "Deployment")

volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
mounts = {}
for m in c.get("volumeMounts", []):
    v = volumes.get(m["name"])
    if not check(v, f"volumeMount {m['name']} has no volume"):
        continue
    kind = next(k for k in ("configMap", "secret", "emptyDir") if k in v) if any(
        k in v for k in ("configMap", "secret", "emptyDir")) else "other"
    if kind == "configMap":
        check(("ConfigMap", v["configMap"]["name"]) in objects, f"volume {m['name']}: no ConfigMap {v['configMap']['name']}")
    if kind == "secret":
        check(("Secret", v["secret"]["secretName"]) in objects, f"volume {m['name']}: no Secret {v['secret']['secretName']}")
    mounts[m["mountPath"]] = (kind, kind == "emptyDir" and not m.get("readOnly", False))
check(mounts.get("/etc/coredns", ("",))[0] == "configMap", "the Corefile's ConfigMap is not mounted at /etc/coredns")
check(c.get("args") == ["-conf", "/etc/coredns/Corefile"], "coredns does not read /etc/coredns/Corefile")
secret_keys = set(secret.get("stringData", {})) | set(secret.get("data", {}))
corefile_problems(configmap.get("data", {}).get("Corefile", ""), "configmap.yaml", mounts, secret_keys)
for e in c.get("env", []):
    check(e["name"] in dnsctl_env, f"env {e['name']} is not a variable dnsctl reads")

# ---- the Helm chart values ----
values = load("helm-values.yaml")[0]
check(values.get("image", {}).get("repository") and values["image"].get("tag"), "helm-values: no image")
check(values.get("isClusterService") is False, "helm-values: isClusterService must be false (not kube-dns)")


def chart_corefile(servers):
    """The Corefile as the chart's configmap template writes it from `servers`."""
    out = []
    for s in servers:
        zones = " ".join(f"{z.get('scheme', '')}{z.get('zone', '.')}" for z in s.get("zones", [{}]))
        out.append(f"{zones}:{s.get('port', 53)} {{" if s.get("port") else f"{zones} {{")
        for p in s.get("plugins", []):
            line = f"    {p['name']} {p.get('parameters', '')}".rstrip()
            if p.get("configBlock"):
                block = "\n".join("        " + l for l in str(p["configBlock"]).splitlines())
                line += " {\n" + block + "\n    }"
            out.append(line)
        out.append("}")
    return "\n".join(out) + "\n"


helm_mounts = {"/etc/coredns": ("configMap", False)}
for s in values.get("extraSecrets", []):
    helm_mounts[s["mountPath"]] = ("secret", False)
helm_volumes = {v["name"]: v for v in values.get("extraVolumes", [])}
for m in values.get("extraVolumeMounts", []):
    v = helm_volumes.get(m["name"], {})
    check(v, f"helm-values: extraVolumeMount {m['name']} has no extraVolume")
    helm_mounts[m["mountPath"]] = ("emptyDir" if "emptyDir" in v else "other", "emptyDir" in v)
# The chart mounts extraSecrets by name; the keys are the ones the manifests' Secret has.
corefile_problems(chart_corefile(values.get("servers", [])), "helm-values.yaml", helm_mounts, secret_keys)
security_problems(values.get("podSecurityContext", {}), values.get("securityContext", {}), "helm-values")
check(values.get("livenessProbe", {}).get("enabled") is not False, "helm-values: livenessProbe disabled")
check(values.get("readinessProbe", {}).get("enabled") is not False, "helm-values: readinessProbe disabled")
check(0 < values.get("podDisruptionBudget", {}).get("minAvailable", 0) < values.get("replicaCount", 1),
      "helm-values: podDisruptionBudget.minAvailable must be below replicaCount")

if PRINT:
    print(configmap["data"]["Corefile"] if PRINT == "configmap" else chart_corefile(values["servers"]))
    sys.exit(0)
for p in problems:
    print(f"deploy/kubernetes: {p}")
if problems:
    sys.exit(1)
print(f"deploy/kubernetes: {len(files)} manifests and helm-values.yaml are consistent")
