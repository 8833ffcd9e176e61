#!/usr/bin/python3
"""A small kustomize for the tests of deploy/k8s (kubectl and kustomize are not available here):
resources, components, strategic-merge patches, images and namespace, for the fields the
manifests use. kustomize_build(directory) returns the objects `kustomize build` would produce.
"""
import copy
import re
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from manifest_lib import load_docs, pod_containers  # noqa: E402

MERGE_KEYS = {"containers": "name", "initContainers": "name", "volumes": "name", "env": "name",
              "volumeMounts": "mountPath", "ports": "containerPort"}
KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "resources", "components", "patches", "images",
                        "namespace"}


def smp(base, patch):
    """Strategic merge patch for the built-in kinds' fields used here."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    out = copy.deepcopy(base) if isinstance(base, dict) else {}
    for k, v in patch.items():
        if k == "$patch":
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, list) and k in MERGE_KEYS and isinstance(out.get(k), list):
            key = MERGE_KEYS[k]
            items = copy.deepcopy(out[k])
            for p in v:
                idx = [i for i, b in enumerate(items) if b.get(key) == p.get(key)]
                if p.get("$patch") == "delete":
                    if not idx:
                        raise AssertionError(f"patch deletes {k}[{key}={p.get(key)}], which does not exist")
                    items.pop(idx[0])
                elif idx:
                    items[idx[0]] = smp(items[idx[0]], p)
                else:
                    items.append(smp({}, p))
            out[k] = items
        elif isinstance(v, dict):
            out[k] = smp(out.get(k), v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def kustomize_build(directory, component=False, _resources=None):
    """Returns the list of objects `kustomize build directory` would produce (for what is used)."""
    directory = Path(directory)
    kfile = directory / "kustomization.yaml"
    k = yaml.safe_load(kfile.read_text())
    unknown = set(k) - KUSTOMIZATION_FIELDS
    if unknown:
        raise AssertionError(f"{kfile}: fields this builder does not know: {sorted(unknown)}")
    want_kind = "Component" if component else "Kustomization"
    if k.get("kind") != want_kind:
        raise AssertionError(f"{kfile}: kind {k.get('kind')}, expected {want_kind}")
    objs = [] if _resources is None else _resources
    for r in k.get("resources", []):
        p = (directory / r).resolve()
        if p.is_dir():
            objs.extend(kustomize_build(p))
        elif p.is_file():
            objs.extend(load_docs(p))
        else:
            raise AssertionError(f"{kfile}: resource {r} does not exist")
    for c in k.get("components", []):
        p = (directory / c).resolve()
        if not (p / "kustomization.yaml").is_file():
            raise AssertionError(f"{kfile}: component {c} does not exist")
        objs = kustomize_build(p, component=True, _resources=objs)
    for patch in k.get("patches", []):
        if set(patch) != {"path"}:
            raise AssertionError(f"{kfile}: only `path:` patches are supported here: {patch}")
        p = directory / patch["path"]
        if not p.is_file():
            raise AssertionError(f"{kfile}: patch {patch['path']} does not exist")
        for doc in load_docs(p):
            matches = [i for i, o in enumerate(objs)
                       if o["kind"] == doc["kind"] and o["metadata"]["name"] == doc["metadata"]["name"]
                       and o["apiVersion"].split("/")[0] == doc["apiVersion"].split("/")[0]]
            if len(matches) != 1:
                raise AssertionError(f"{p}: patch target {doc['kind']}/{doc['metadata']['name']} "
                                     f"matches {len(matches)} objects")
            if doc.get("$patch") == "delete":
                objs.pop(matches[0])
            else:
                objs[matches[0]] = smp(objs[matches[0]], doc)
    for img in k.get("images", []):
        for o in objs:
            for c in pod_containers(o):
                name = re.split(r"[:@]", c["image"].rsplit("/", 1)[-1])[0]
                repo = c["image"][: len(c["image"].rsplit("/", 1)[0]) + 1] if "/" in c["image"] else ""
                if repo + name == img["name"]:
                    c["image"] = f"{img.get('newName', img['name'])}:{img['newTag']}"
    if "namespace" in k:
        for o in objs:
            o["metadata"]["namespace"] = k["namespace"]
    return objs
