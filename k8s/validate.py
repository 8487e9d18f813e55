#!/usr/bin/env python3
"""Validates the Kubernetes manifests under k8s/ against the Kubernetes API schemas.

Each kustomization (k8s/base, every k8s/overlays/*, the backup's) is rendered with `kubectl kustomize`
(or `kustomize build`) and every object it produces is checked with kubernetes-validate, in
strict mode (an unknown field is an error), for each version in VERSIONS: the oldest the
README supports and the one it names as tested. The files kubectl does not apply through a
kustomization (the example Jobs, the Secret template, monitoring examples) are checked too.

Objects of custom resource definitions (Prometheus Operator, CloudNativePG) have no schema in
kubernetes-validate: they get a structural check instead (apiVersion, kind, name, a spec and
the few fields Gerbang's examples rely on). Any other kind without a schema is an error, so a
misspelt kind or apiVersion is caught rather than skipped.

Without kubectl or kustomize the overlays cannot be rendered: then the base's files and the
overlays' own resources are checked as written and the script says so; the patches are not.
CI passes `--require-render`, which makes that case an error: a run that checked less must not
pass as one that checked everything.

Usage: python3 k8s/validate.py [--require-render]   (exit 0 when everything is valid, 1 otherwise)
"""

import pathlib
import shutil
import subprocess
import sys

import kubernetes_validate
import yaml

K8S = pathlib.Path(__file__).resolve().parent
# The oldest version k8s/README.md supports (nodeTaintsPolicy) and the one it names as tested.
VERSIONS = ["1.26.0", "1.31.0"]
# API groups of custom resources: no schema in kubernetes-validate, checked structurally.
CRD_GROUPS = {"monitoring.coreos.com", "postgresql.cnpg.io"}
# Said at the end of the run: what was not checked, and why.
NOTES = []
# Files that are not Kubernetes objects.
NOT_OBJECTS = {"kustomization.yaml", "kustomization.yml", "Kustomization"}


def render(directory):
    """The objects a kustomization produces, or None when no renderer is installed."""
    if shutil.which("kubectl"):
        cmd = ["kubectl", "kustomize", str(directory)]
    elif shutil.which("kustomize"):
        cmd = ["kustomize", "build", str(directory)]
    else:
        return None
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{directory.relative_to(K8S.parent)}: kustomize failed:\n{out.stderr}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def load(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def kustomizations():
    """Every directory under k8s/ with a kustomization (the base, the overlays, the backup and
    the overlays' backups)."""
    return sorted(p.parent for p in K8S.rglob("kustomization.yaml"))


def patch_files():
    """Files named as patches by a kustomization: fragments, not whole objects."""
    out = set()
    for d in kustomizations():
        k = load(d / "kustomization.yaml")[0]
        for p in k.get("patches", []) + k.get("patchesStrategicMerge", []):
            path = p.get("path") if isinstance(p, dict) else p
            if path:
                out.add((d / path).resolve())
    return out


def structural(doc):
    """Problems with a custom resource, without its schema."""
    problems = []
    if not isinstance(doc.get("metadata"), dict) or not doc["metadata"].get("name"):
        problems.append("metadata.name is missing")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return problems + ["spec is missing or not a mapping"]
    kind = doc.get("kind")
    if kind == "PrometheusRule":
        for g in spec.get("groups") or [None]:
            if not isinstance(g, dict) or not g.get("name") or not g.get("rules"):
                problems.append("every group needs a name and rules")
                continue
            for r in g["rules"]:
                if not (r.get("alert") or r.get("record")) or not r.get("expr"):
                    problems.append(f"group {g['name']}: a rule needs alert or record, and expr")
    elif kind in ("ServiceMonitor", "PodMonitor"):
        endpoints = spec.get("endpoints") or spec.get("podMetricsEndpoints")
        if not isinstance(spec.get("selector"), dict) or not endpoints:
            problems.append("selector and endpoints are required")
    elif kind == "Cluster":
        if not isinstance(spec.get("instances"), int) or spec["instances"] < 1:
            problems.append("spec.instances must be a positive integer")
        if not isinstance(spec.get("storage"), dict) or not spec["storage"].get("size"):
            problems.append("spec.storage.size is required")
    return problems


def check(where, doc):
    """Error lines for one object (empty when valid)."""
    if not isinstance(doc, dict) or doc.get("kind") in NOT_OBJECTS:
        return []
    kind, api = doc.get("kind"), doc.get("apiVersion", "")
    name = (doc.get("metadata") or {}).get("name", "?")
    label = f"{where}: {kind} {name}"
    if not kind and not api:
        # Not a Kubernetes object at all (a values or rules file kept beside the manifests).
        NOTES.append(f"{where}: skipped a document that is not a Kubernetes object (no apiVersion, no kind)")
        return []
    if not kind or not api:
        return [f"{label}: apiVersion and kind are required"]
    if api.split("/")[0] in CRD_GROUPS:
        return [f"{label}: {p}" for p in structural(doc)]
    errors = []
    for v in VERSIONS:
        try:
            kubernetes_validate.validate(doc, v, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            return [f"{label}: no schema for {api} {kind} in Kubernetes {v} (a typo, or a CRD to add to CRD_GROUPS)"]
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            errors.append(f"{label}: Kubernetes {v}: {path}: {e.message}")
    return errors


def main():
    errors, counted, skipped = [], 0, NOTES
    rendered_any = True
    for d in kustomizations():
        where = str(d.relative_to(K8S.parent))
        docs = render(d)
        if docs is None:
            rendered_any = False
            break
        for doc in docs:
            counted += 1
            errors += check(f"{where} (rendered)", doc)
    patches = patch_files()
    resources = {(d / r).resolve() for d in kustomizations() for r in listed(d)}
    for path in sorted(K8S.rglob("*.y*ml")):
        if path.name in NOT_OBJECTS or path.resolve() in patches:
            continue
        if rendered_any and path.resolve() in resources:
            continue  # already checked as part of a rendered kustomization
        for doc in load(path):
            counted += 1
            errors += check(str(path.relative_to(K8S.parent)), doc)
    if not rendered_any:
        if "--require-render" in sys.argv[1:]:
            errors.append("kubectl/kustomize not installed: the kustomizations could not be rendered")
        else:
            skipped.append("kubectl/kustomize not installed: overlays' patches were not applied or checked")
    for e in errors:
        print(f"error: {e}")
    for s in skipped:
        print(f"note: {s}")
    print(f"k8s: {counted} objects checked against Kubernetes {', '.join(VERSIONS)}: {len(errors)} errors")
    return 1 if errors else 0


def listed(directory):
    k = load(directory / "kustomization.yaml")[0]
    return set(k.get("resources", []))


if __name__ == "__main__":
    sys.exit(main())
