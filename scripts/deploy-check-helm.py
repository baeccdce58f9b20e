"""The Helm chart's checks, for scripts/deploy-check (which installs the venv).

Usage: python deploy-check-helm.py CHART OUTDIR MEDIC_BINARY

Renders deploy/helm/medic with Helm's own Go library (helm-python-sdk binds
Helm v4 through a C ABI: `helm template`'s engine, not a re-implementation),
runs `helm lint` through it, validates every rendered manifest against the
Kubernetes JSON schemas of the oldest version the chart accepts and the newest
known (kubernetes-validate, strict: unknown fields are errors), then checks
what the chart promises, and runs `medic check-config` on the medic.toml it
renders with the environment variables it sets. Writes the rendered
manifests under OUTDIR/rendered for yamllint. Exit 1 on any failure.
"""

import os
import re
import subprocess
import sys

import helm_python as helm
import kubernetes_validate
import yaml

CHART, OUT, MEDIC = sys.argv[1:4]
KUBE_VERSIONS = ["1.25.0", "1.37.0"]
failures = []
passed = 0


def check(cond, what):
    print(("   ok: " if cond else "   FAILED: ") + what, flush=True)
    global passed
    if cond:
        passed += 1
    else:
        failures.append(what)
    return cond


def render(values):
    with helm.Chart.load(CHART) as chart:
        files = chart.render(values, name="medic", namespace="ops")
    docs = []
    for path, text in sorted(files.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                docs.append((path, doc))
    return files, docs


def by_kind(docs, kind):
    return [d for _, d in docs if d.get("kind") == kind]


# --- helm lint --------------------------------------------------------------
lint = helm.lint(CHART)
serious = [m for m in lint.get("messages", []) if m.get("severity", 0) >= 2]
check(
    not lint.get("errors") and not serious,
    f"helm lint: {len(lint.get('messages', []))} message(s), "
    + (f"these serious: {serious or lint.get('errors')}" if serious or lint.get("errors") else "none a warning or error"),
)

# --- render the variants, validate against Kubernetes' schemas --------------
variants = {
    "default": {},
    "everything": {
        "replicaCount": 3,
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
        "ingress": {"enabled": True, "className": "nginx", "tlsSecretName": "medic-tls"},
        "env": {"RUST_LOG": "info"},
        "podAnnotations": {"example.com/team": "sre"},
    },
    # null removes a key from the chart's defaults (Helm merges maps)
    "single-sqlite": {"replicaCount": 1, "secretEnv": {"MEDIC__DATABASE__URL": None}},
}
rendered = {}
os.makedirs(os.path.join(OUT, "rendered"), exist_ok=True)
for name, values in variants.items():
    try:
        files, docs = render(values)
    except helm.HelmError as e:
        check(False, f"render '{name}': {str(e).splitlines()[-1]}")
        print(f"helm-checks: {passed} passed, {len(failures)} failed")
        sys.exit(1)
    rendered[name] = docs
    with open(os.path.join(OUT, "rendered", f"{name}.yaml"), "w") as f:
        for path, text in sorted(files.items()):
            if not path.endswith("NOTES.txt") and text.strip():
                f.write(f"---\n# Source: {path}\n{text.strip()}\n")
    problems = []
    for path, doc in docs:
        if doc.get("kind") == "ServiceMonitor":
            continue  # a CRD: no schema in Kubernetes; checked below
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except Exception as e:  # ValidationError, SchemaNotFoundError
                problems.append(f"{path} @{version}: {str(e).splitlines()[0]}")
    kinds = sorted({d["kind"] for _, d in docs})
    check(
        not problems,
        f"render '{name}': {', '.join(kinds)} valid for Kubernetes {' and '.join(KUBE_VERSIONS)} (strict)"
        + (f" — {problems}" if problems else ""),
    )

# --- what the chart promises (default values) --------------------------------
docs = rendered["default"]
(dep,) = by_kind(docs, "Deployment")
pod = dep["spec"]["template"]
labels = pod["metadata"]["labels"]
(c,) = pod["spec"]["containers"]
ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
check(dep["spec"]["replicas"] >= 2, f"Deployment replicas = {dep['spec']['replicas']} (>= 2)")
check(
    dep["spec"]["selector"]["matchLabels"].items() <= labels.items(),
    "Deployment selector matches its pod labels",
)
for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"), ("startupProbe", "/healthz")):
    get = c.get(probe, {}).get("httpGet", {})
    check(
        get.get("path") == path and get.get("port") in ports,
        f"{probe}: GET {get.get('path')} on port '{get.get('port')}' (want {path} on a declared port)",
    )
check(
    any(a == "--config" for a in c.get("args", [])) and "/etc/medic/medic.toml" in c.get("args", []),
    f"medic runs with --config /etc/medic/medic.toml (args {c.get('args')})",
)
mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
vols = {v["name"]: v for v in pod["spec"].get("volumes", [])}
cm_name = vols.get(mounts.get("/etc/medic", {}).get("name"), {}).get("configMap", {}).get("name")
cms = {d["metadata"]["name"]: d for d in by_kind(docs, "ConfigMap")}
check(cm_name in cms and "medic.toml" in cms[cm_name]["data"], f"ConfigMap {cm_name} with medic.toml mounted at /etc/medic")
check("checksum/config" in pod["metadata"].get("annotations", {}), "a config change rolls the pods (checksum/config)")

secretish = re.compile(r"(TOKEN|SECRET|PASSWORD|DATABASE__URL|REDIS__URL)")
env = c.get("env", [])
literal = [e["name"] for e in env if secretish.search(e["name"]) and "value" in e]
refs = [e["name"] for e in env if "secretKeyRef" in e.get("valueFrom", {})]
check(not literal and refs, f"tokens only by secretKeyRef ({len(refs)} references, no literal value)")
check(not by_kind(docs, "Secret"), "the chart writes no Secret (tokens stay out of values and releases)")
toml_text = cms[cm_name]["data"]["medic.toml"] if cm_name in cms else ""
check(
    not re.search(r"^\s*(bot_token|signing_secret|client_secret|auth_token|api_token|app_token|webhook_secrets|token)\s*=", toml_text, re.M),
    "no secret key in the ConfigMap's medic.toml",
)
psc, csc = pod["spec"].get("securityContext", {}), c.get("securityContext", {})
check(
    psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0
    and csc.get("readOnlyRootFilesystem") is True and csc.get("allowPrivilegeEscalation") is False
    and csc.get("capabilities", {}).get("drop") == ["ALL"],
    "non-root (uid %s), read-only root, no privilege escalation, no capabilities" % psc.get("runAsUser"),
)
check(
    pod["spec"].get("terminationGracePeriodSeconds", 30) > 30,
    f"terminationGracePeriodSeconds {pod['spec'].get('terminationGracePeriodSeconds')} > medic's 30 s shutdown_grace",
)
(svc,) = by_kind(docs, "Service")
check(
    svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    and all(p["targetPort"] in ports for p in svc["spec"]["ports"]),
    "Service selects the pods, to the named port",
)
pdbs = by_kind(docs, "PodDisruptionBudget")
check(
    len(pdbs) == 1
    and pdbs[0]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    and 1 <= pdbs[0]["spec"]["minAvailable"] < dep["spec"]["replicas"],
    "PodDisruptionBudget selects the pods, minAvailable %s of %s"
    % (pdbs[0]["spec"]["minAvailable"] if pdbs else "?", dep["spec"]["replicas"]),
)
check(not by_kind(docs, "ServiceMonitor"), "no ServiceMonitor unless asked")

every = rendered["everything"]
sms = by_kind(every, "ServiceMonitor")
(svc3,) = by_kind(every, "Service")
check(
    len(sms) == 1
    and sms[0]["apiVersion"] == "monitoring.coreos.com/v1"
    and sms[0]["spec"]["selector"]["matchLabels"].items() <= svc3["metadata"]["labels"].items()
    and sms[0]["spec"]["endpoints"][0]["port"] in {p["name"] for p in svc3["spec"]["ports"]}
    and sms[0]["spec"]["endpoints"][0]["path"] == "/metrics",
    "serviceMonitor.enabled: a ServiceMonitor scraping the Service's http port at /metrics",
)
(ing,) = by_kind(every, "Ingress")
paths = [p["path"] for r in ing["spec"]["rules"] for p in r["http"]["paths"]]
check("/metrics" not in paths and "/slack" in paths, f"Ingress routes {paths}, not /metrics")
single = rendered["single-sqlite"]
check(not by_kind(single, "PodDisruptionBudget"), "one replica: no PodDisruptionBudget (it would block node drains)")

# --- what must not render -----------------------------------------------------
try:
    render({"replicaCount": 3, "secretEnv": {"MEDIC__DATABASE__URL": None}})
    check(False, "replicaCount 3 without a database URL reference must not render")
except helm.HelmError as e:
    check("needs PostgreSQL" in str(e), f"replicaCount 3 without secretEnv.MEDIC__DATABASE__URL refused: {str(e).splitlines()[-1][:120]}")

# --- medic reads what the chart gives it --------------------------------------
# The rendered medic.toml, with the non-secret keys that some secrets need
# beside them (Discord's application id, PagerDuty's webhook secrets), and
# every variable the Deployment sets, secrets filled with test values: medic
# must accept all of it, and know every key (an unknown one is a warning).
companion = """
[discord]
application_id = "1100000000000000001"
public_key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
[pagerduty]
webhook_secrets = ["test-webhook-secret"]
"""
with helm.Chart.load(CHART) as chart:
    default_config = chart.values["config"]
_, docs = render({"config": default_config + companion})
(dep,) = by_kind(docs, "Deployment")
(cm,) = by_kind(docs, "ConfigMap")
cfg = os.path.join(OUT, "medic.toml")
with open(cfg, "w") as f:
    f.write(cm["data"]["medic.toml"])
run_env = {"PATH": "/usr/bin:/bin"}
for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]:
    if "value" in e:
        run_env[e["name"]] = e["value"]
    elif e["name"] == "MEDIC__DATABASE__URL":
        run_env[e["name"]] = "postgres://medic:test-password@postgres:5432/medic"
    elif e["name"] == "MEDIC__REDIS__URL":
        run_env[e["name"]] = "redis://redis:6379/0"
    elif e["name"].endswith("SLACK__BOT_TOKEN"):
        run_env[e["name"]] = "xoxb-test-value-1234"
    elif e["name"].endswith("SLACK__APP_TOKEN"):
        run_env[e["name"]] = "xapp-test-value-1234"
    else:
        run_env[e["name"]] = "test-value-1234"
# The workspace and server served, as an operator sets them (one variable
# may carry a comma list); without them check-config warns that any
# workspace or server may use medic.
run_env["MEDIC__SLACK__TEAMS"] = "T0001ABCD"
run_env["MEDIC__DISCORD__GUILDS"] = "1290000000000000001"
res = subprocess.run([MEDIC, "check-config", "--config", cfg], env=run_env, capture_output=True, text=True)
out = (res.stdout + res.stderr).strip()
check(
    res.returncode == 0 and "warning" not in out.lower(),
    f"medic check-config on the rendered medic.toml with the chart's {len(run_env) - 3} variables: "
    + (out.splitlines()[0] if res.returncode == 0 else out)
    + "".join(f"\n        {line.strip()}" for line in out.splitlines() if "warning" in line.lower()),
)
if "test-password" in out or "value-1234" in out:
    check(False, "check-config printed a secret")

print(f"helm-checks: {passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
