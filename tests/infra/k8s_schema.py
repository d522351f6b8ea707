"""A small offline Kubernetes manifest checker (a kubeconform stand-in for the kinds plotline uses).

Each kind gets a JSON schema of the fields we use, strict about unknown keys where a typo would silently be ignored
by the API server's pruning (container, pod spec, probe, port, resources); `check_manifests` adds the cross-object
rules a schema cannot express: selectors match template labels, Services select an existing workload and target
a declared container port, probes name declared ports, ServiceAccounts / ConfigMaps / PVCs referenced exist.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema

DNS1123 = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$"

_str = {"type": "string"}
_labels = {
    "type": "object",
    "additionalProperties": {"type": "string"},
    "propertyNames": {"pattern": r"^([a-z0-9.-]+/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"},
}
_metadata = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": DNS1123, "maxLength": 63},
        "namespace": {"type": "string", "pattern": DNS1123},
        "labels": _labels,
        "annotations": {"type": "object"},
    },
}
_template_metadata = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"labels": _labels, "annotations": {"type": "object"}},
}
_quantity = {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": QUANTITY}]}
_resources = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "requests": {"type": "object", "additionalProperties": _quantity},
        "limits": {"type": "object", "additionalProperties": _quantity},
    },
}
_port_ref = {"oneOf": [{"type": "integer", "minimum": 1, "maximum": 65535}, {"type": "string", "pattern": DNS1123}]}
_probe = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "httpGet": {
            "type": "object",
            "required": ["port"],
            "additionalProperties": False,
            "properties": {"path": _str, "port": _port_ref, "scheme": {"enum": ["HTTP", "HTTPS"]}},
        },
        "exec": {"type": "object", "required": ["command"], "properties": {"command": {"type": "array"}}},
        "tcpSocket": {"type": "object", "required": ["port"], "properties": {"port": _port_ref}},
        "initialDelaySeconds": {"type": "integer"},
        "periodSeconds": {"type": "integer"},
        "timeoutSeconds": {"type": "integer"},
        "failureThreshold": {"type": "integer"},
        "successThreshold": {"type": "integer"},
    },
}
_env = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
            "value": _str,
            "valueFrom": {"type": "object"},
        },
    },
}
_container = {
    "type": "object",
    "required": ["name", "image"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": DNS1123},
        "image": _str,
        "imagePullPolicy": {"enum": ["IfNotPresent", "Always", "Never"]},
        "command": {"type": "array", "items": _str},
        "args": {"type": "array", "items": _str},
        "env": _env,
        "envFrom": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "configMapRef": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {"name": _str, "optional": {"type": "boolean"}},
                    },
                    "secretRef": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {"name": _str, "optional": {"type": "boolean"}},
                    },
                },
            },
        },
        "ports": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["containerPort"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "pattern": DNS1123, "maxLength": 15},
                    "containerPort": {"type": "integer", "minimum": 1, "maximum": 65535},
                    "protocol": {"enum": ["TCP", "UDP"]},
                },
            },
        },
        "resources": _resources,
        "livenessProbe": _probe,
        "readinessProbe": _probe,
        "startupProbe": _probe,
        "volumeMounts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "mountPath"],
                "additionalProperties": False,
                "properties": {"name": _str, "mountPath": _str, "readOnly": {"type": "boolean"}, "subPath": _str},
            },
        },
        "workingDir": _str,
        "securityContext": {"type": "object"},
    },
}
_volume = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": DNS1123},
        "emptyDir": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"medium": {"enum": ["", "Memory"]}, "sizeLimit": _quantity},
        },
        "persistentVolumeClaim": {
            "type": "object",
            "required": ["claimName"],
            "additionalProperties": False,
            "properties": {"claimName": _str, "readOnly": {"type": "boolean"}},
        },
        "configMap": {"type": "object"},
        "secret": {"type": "object"},
    },
}
_pod_spec = {
    "type": "object",
    "required": ["containers"],
    "additionalProperties": False,
    "properties": {
        "containers": {"type": "array", "minItems": 1, "items": _container},
        "initContainers": {"type": "array", "items": _container},
        "volumes": {"type": "array", "items": _volume},
        "serviceAccountName": {"type": "string", "pattern": DNS1123},
        "restartPolicy": {"enum": ["Always", "OnFailure", "Never"]},
        "nodeSelector": {"type": "object", "additionalProperties": _str},
        "tolerations": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "key": _str,
                    "operator": {"enum": ["Exists", "Equal"]},
                    "value": _str,
                    "effect": {"enum": ["NoSchedule", "PreferNoSchedule", "NoExecute"]},
                },
            },
        },
        "securityContext": {"type": "object"},
        "terminationGracePeriodSeconds": {"type": "integer"},
    },
}
_pod_template = {
    "type": "object",
    "required": ["spec"],
    "additionalProperties": False,
    "properties": {"metadata": _template_metadata, "spec": _pod_spec},
}


def _kind(api_version: str, kind: str, spec: dict | None = None, extra: dict | None = None, required=("spec",)) -> dict:
    props = {"apiVersion": {"const": api_version}, "kind": {"const": kind}, "metadata": _metadata}
    if spec is not None:
        props["spec"] = spec
    props.update(extra or {})
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", *required],
        "additionalProperties": False,
        "properties": props,
    }


SCHEMAS: dict[str, dict[str, Any]] = {
    "Namespace": _kind("v1", "Namespace", required=()),
    "ServiceAccount": _kind("v1", "ServiceAccount", required=()),
    "ConfigMap": _kind(
        "v1", "ConfigMap", extra={"data": {"type": "object", "additionalProperties": _str}}, required=()
    ),
    "PersistentVolumeClaim": _kind(
        "v1",
        "PersistentVolumeClaim",
        {
            "type": "object",
            "required": ["accessModes", "resources"],
            "additionalProperties": False,
            "properties": {
                "accessModes": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"enum": ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]},
                },
                "resources": {
                    "type": "object",
                    "required": ["requests"],
                    "properties": {
                        "requests": {"type": "object", "required": ["storage"], "properties": {"storage": _quantity}}
                    },
                },
                "storageClassName": _str,
            },
        },
    ),
    "Deployment": _kind(
        "apps/v1",
        "Deployment",
        {
            "type": "object",
            "required": ["selector", "template"],
            "additionalProperties": False,
            "properties": {
                "replicas": {"type": "integer", "minimum": 0},
                "selector": {"type": "object", "required": ["matchLabels"], "properties": {"matchLabels": _labels}},
                "template": _pod_template,
                "strategy": {"type": "object"},
            },
        },
    ),
    "Job": _kind(
        "batch/v1",
        "Job",
        {
            "type": "object",
            "required": ["template"],
            "additionalProperties": False,
            "properties": {
                "backoffLimit": {"type": "integer", "minimum": 0},
                "ttlSecondsAfterFinished": {"type": "integer", "minimum": 0},
                "activeDeadlineSeconds": {"type": "integer"},
                "parallelism": {"type": "integer"},
                "completions": {"type": "integer"},
                "template": _pod_template,
            },
        },
    ),
    "Service": _kind(
        "v1",
        "Service",
        {
            "type": "object",
            "required": ["selector", "ports"],
            "additionalProperties": False,
            "properties": {
                "type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
                "selector": _labels,
                "ports": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["port"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "pattern": DNS1123},
                            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                            "targetPort": _port_ref,
                            "protocol": {"enum": ["TCP", "UDP"]},
                        },
                    },
                },
            },
        },
    ),
    "Role": _kind(
        "rbac.authorization.k8s.io/v1",
        "Role",
        extra={
            "rules": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["apiGroups", "resources", "verbs"],
                    "additionalProperties": False,
                    "properties": {
                        "apiGroups": {"type": "array", "items": _str},
                        "resources": {"type": "array", "items": _str},
                        "verbs": {
                            "type": "array",
                            "items": {
                                "enum": [
                                    "get",
                                    "list",
                                    "watch",
                                    "create",
                                    "update",
                                    "patch",
                                    "delete",
                                    "deletecollection",
                                ]
                            },
                        },
                    },
                },
            }
        },
        required=("rules",),
    ),
    "RoleBinding": _kind(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        extra={
            "roleRef": {
                "type": "object",
                "required": ["apiGroup", "kind", "name"],
                "properties": {
                    "apiGroup": {"const": "rbac.authorization.k8s.io"},
                    "kind": {"enum": ["Role", "ClusterRole"]},
                    "name": _str,
                },
            },
            "subjects": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["kind", "name"]}},
        },
        required=("roleRef", "subjects"),
    ),
}


def validate_object(obj: dict[str, Any]) -> list[str]:
    """Schema errors of one manifest (kind must be known)."""
    kind = obj.get("kind")
    if kind not in SCHEMAS:
        return [f"unknown kind {kind!r}"]
    validator = jsonschema.Draft202012Validator(SCHEMAS[kind])
    name = (obj.get("metadata") or {}).get("name", "?")
    return [
        f"{kind}/{name}: {'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(obj)
    ]


def _pod_spec_of(obj: dict) -> dict | None:
    if obj["kind"] in ("Deployment", "Job"):
        return obj["spec"]["template"]["spec"]
    return None


def check_manifests(objs: list[dict[str, Any]]) -> list[str]:
    """Schema errors plus the cross-object rules (see the module docstring)."""
    errors = [e for obj in objs for e in validate_object(obj)]
    if errors:
        return errors
    names = {(o["kind"], o["metadata"]["name"]) for o in objs}
    workloads = [o for o in objs if o["kind"] in ("Deployment", "Job")]
    for o in workloads:
        spec = _pod_spec_of(o)
        where = f"{o['kind']}/{o['metadata']['name']}"
        if o["kind"] == "Deployment":
            labels = o["spec"]["template"].get("metadata", {}).get("labels", {})
            for k, v in o["spec"]["selector"]["matchLabels"].items():
                if labels.get(k) != v:
                    errors.append(f"{where}: selector {k}={v} does not match the pod template labels")
        volumes = {v["name"] for v in spec.get("volumes", [])}
        sa = spec.get("serviceAccountName")
        if sa and ("ServiceAccount", sa) not in names and not sa.startswith("{{"):
            errors.append(f"{where}: service account {sa} is not defined")
        for v in spec.get("volumes", []):
            claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
            if claim and ("PersistentVolumeClaim", claim) not in names:
                errors.append(f"{where}: volume {v['name']} claims undefined PVC {claim}")
        for c in spec["containers"]:
            ports = {p.get("name") for p in c.get("ports", [])} | {p["containerPort"] for p in c.get("ports", [])}
            for m in c.get("volumeMounts", []):
                if m["name"] not in volumes:
                    errors.append(f"{where}/{c['name']}: mounts undefined volume {m['name']}")
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                port = (c.get(probe) or {}).get("httpGet", {}).get("port")
                if port is not None and port not in ports:
                    errors.append(f"{where}/{c['name']}: {probe} port {port} is not a declared container port")
            for ref in c.get("envFrom", []):
                cm = (ref.get("configMapRef") or {}).get("name")
                if cm and ("ConfigMap", cm) not in names and not ref["configMapRef"].get("optional"):
                    errors.append(f"{where}/{c['name']}: envFrom ConfigMap {cm} is not defined")
    for svc in (o for o in objs if o["kind"] == "Service"):
        sel = svc["spec"]["selector"]
        targets = [
            w
            for w in workloads
            if w["kind"] == "Deployment"
            and all(w["spec"]["template"].get("metadata", {}).get("labels", {}).get(k) == v for k, v in sel.items())
        ]
        if not targets:
            errors.append(f"Service/{svc['metadata']['name']}: selector {sel} matches no Deployment")
            continue
        for p in svc["spec"]["ports"]:
            target = p.get("targetPort", p["port"])
            declared = {
                x
                for w in targets
                for c in _pod_spec_of(w)["containers"]
                for port in c.get("ports", [])
                for x in (port.get("name"), port["containerPort"])
            }
            if target not in declared:
                errors.append(
                    f"Service/{svc['metadata']['name']}: targetPort {target} is not a container port of {sel}"
                )
    for rb in (o for o in objs if o["kind"] == "RoleBinding"):
        if (rb["roleRef"]["kind"], rb["roleRef"]["name"]) not in names:
            errors.append(f"RoleBinding/{rb['metadata']['name']}: role {rb['roleRef']['name']} is not defined")
        for s in rb["subjects"]:
            if s["kind"] == "ServiceAccount" and ("ServiceAccount", s["name"]) not in names:
                errors.append(f"RoleBinding/{rb['metadata']['name']}: subject {s['name']} is not defined")
    return errors


def gpu_limit(obj: dict[str, Any]) -> Any:
    """The nvidia.com/gpu limit of a workload's first container (None when absent)."""
    spec = _pod_spec_of(obj)
    return spec["containers"][0].get("resources", {}).get("limits", {}).get("nvidia.com/gpu") if spec else None


def dns_label(text: str) -> bool:
    """Whether `text` is a valid DNS-1123 label."""
    return bool(re.match(DNS1123, text)) and len(text) <= 63
