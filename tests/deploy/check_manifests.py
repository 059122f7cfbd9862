#!/usr/bin/env python3
"""Checks that the deployment manifests agree with the Dockerfile and the programs' flags, so a
renamed flag or port breaks the build, not a deployment (docs/deploy.md).

usage: check_manifests.py SOURCE_DIR BIN_DIR

Reads docker/Dockerfile, deploy/compose/*.yaml and deploy/k8s/*.yaml; asks the programs in
BIN_DIR for their --help (flags, and the environment variables they read). Prints every
disagreement and exits 1 if there is any.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

src, bin_dir = sys.argv[1], sys.argv[2]
problems = []


def problem(where, what):
    problems.append(f"{where}: {what}")


def program_help(*argv):
    out = subprocess.run([os.path.join(bin_dir, argv[0]), *argv[1:], "--help"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{argv[0]} --help failed: {out.stderr}")
    return out.stdout


def flags_of(help_text):
    return set(re.findall(r"^\s+--([a-z0-9-]+)", help_text, re.M))


def env_of(help_text):
    return set(re.findall(r"\[\$([A-Z0-9_]+)\]", help_text))


coordinator_help = program_help("braintune-coordinator")
worker_help = program_help("braintune-worker")
health_help = program_help("braintune", "health")
known_env = {"coordinator": env_of(coordinator_help), "worker": env_of(worker_help)}
if not known_env["coordinator"] or not known_env["worker"]:
    sys.exit("the programs list no environment variables in --help: FromEnvironment missing?")
# Variables the programs read besides their flags' (common/grpc_client.h, cli.cc).
client_env = {"BRAINTUNE_COORDINATOR", "BRAINTUNE_TLS_CA", "BRAINTUNE_TLS_SERVER_NAME", "BRAINTUNE_TOKEN",
              "BRAINTUNE_TOKEN_FILE"}
health_flags = flags_of(health_help)

# --- the Dockerfile: stages, ports, volumes, environment, health check.
dockerfile = open(os.path.join(src, "docker/Dockerfile")).read()
stages = {}
current = None
for line in dockerfile.splitlines():
    m = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line)
    if m:
        current = m.group(1)
        stages[current] = ""
    elif current:
        stages[current] += line + "\n"
for needed in ("builder", "coordinator", "worker"):
    if needed not in stages:
        problem("docker/Dockerfile", f"no stage '{needed}'")


def stage_env(stage):
    return dict(re.findall(r"(BRAINTUNE_[A-Z0-9_]+)=(\S+)", stages.get(stage, "")))


def stage_volumes(stage):
    m = re.search(r"VOLUME \[(.*)\]", stages.get(stage, ""))
    return set(v.strip().strip('"') for v in m.group(1).split(",")) if m else set()


exposed = {port for line in re.findall(r"^EXPOSE (.+)$", stages.get("coordinator", ""), re.M) for port in line.split()}
coordinator_port = stage_env("coordinator").get("BRAINTUNE_COORDINATOR_LISTEN", ":").rsplit(":", 1)[1]
if coordinator_port not in exposed:
    problem("docker/Dockerfile", f"coordinator listens on {coordinator_port} but EXPOSEs {sorted(exposed)}")
http_port = stage_env("coordinator").get("BRAINTUNE_COORDINATOR_HTTP", ":").rsplit(":", 1)[1]
if http_port not in exposed:
    problem("docker/Dockerfile", f"coordinator serves HTTP on {http_port} but EXPOSEs {sorted(exposed)}")
if "braintune\", \"health" not in stages.get("coordinator", ""):
    problem("docker/Dockerfile", "the coordinator's HEALTHCHECK is not `braintune health`")
for stage, program in (("coordinator", "coordinator"), ("worker", "worker")):
    for name in stage_env(stage):
        if name not in known_env[program] | client_env:
            problem(f"docker/Dockerfile ({stage})", f"{name} is read by no flag of braintune-{program}")
state_volume = "/var/lib/braintune"
for stage in ("coordinator", "worker"):
    if state_volume not in stage_volumes(stage):
        problem(f"docker/Dockerfile ({stage})", f"no VOLUME {state_volume}")
if not stage_env("coordinator").get("BRAINTUNE_COORDINATOR_DB", "").startswith(state_volume + "/"):
    problem("docker/Dockerfile", "the coordinator's database is not in its volume")


def check_env(where, program, env):
    for name, value in env.items():
        if name not in known_env[program] | client_env:
            problem(where, f"{name} is read by no flag of braintune-{program}")


def check_health_command(where, command):
    if command[:2] != ["braintune", "health"]:
        problem(where, f"the health check is {command}, not `braintune health`")
    for arg in command[2:]:
        if arg.startswith("--") and arg[2:].split("=")[0] not in health_flags:
            problem(where, f"braintune health has no flag {arg}")


def mounted(path, mounts):
    return any(path == m or path.startswith(m.rstrip("/") + "/") for m in mounts)


def check_paths(where, env, mounts, secrets_dir=None):
    """Every file an environment variable names lies under something mounted or in the image."""
    for name, value in env.items():
        if not isinstance(value, str) or not value.startswith("/"):
            continue
        if value.startswith("/run/secrets/"):
            if secrets_dir is not None and value[len("/run/secrets/"):] not in secrets_dir:
                problem(where, f"{name}={value}: no such secret given to the service")
        elif value.startswith("/usr/local/bin/"):
            continue
        elif not mounted(value, mounts):
            problem(where, f"{name}={value}: not on a mounted volume")


# --- Docker Compose.
compose_dir = os.path.join(src, "deploy/compose")
compose = yaml.safe_load(open(os.path.join(compose_dir, "compose.yaml")))
tls = yaml.safe_load(open(os.path.join(compose_dir, "compose.tls.yaml")))
declared_secrets = set(compose.get("secrets", {})) | set(tls.get("secrets", {}))
for name, secret in list(compose.get("secrets", {}).items()) + list(tls.get("secrets", {}).items()):
    if not secret.get("file", "").startswith("./secrets/"):
        problem("deploy/compose", f"secret {name} is not a file under secrets/ (kept out of git)")
services = compose["services"]
for name, service in services.items():
    where = f"deploy/compose/compose.yaml ({name})"
    if name == "prometheus":  # its config files are the repository's, its token a declared secret
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith(".") and not os.path.exists(os.path.join(compose_dir, source)):
                problem(where, f"mounts {source}, which does not exist")
        for s in service.get("secrets", []):
            if (s["source"] if isinstance(s, dict) else s) not in declared_secrets:
                problem(where, f"secret {s} is not declared")
        continue
    program = "coordinator" if name == "coordinator" else "worker"
    image = service.get("image", "")
    if not re.search(rf"/braintune-{program}(-cuda)?:", image):
        problem(where, f"image {image} is not braintune-{program}")
    env = dict(service.get("environment", {}))
    overlay = tls["services"].get(name, {})
    for layer, layer_env in (("", env), (" + compose.tls.yaml", dict(overlay.get("environment", {})))):
        check_env(where + layer, program, layer_env)
    # "SOURCE:TARGET[:ro]", SOURCE possibly "${VAR:?message}" (its colons are not separators).
    mounts = [re.sub(r"^\$\{[^}]*\}", "host", v).split(":")[1] for v in service.get("volumes", [])]
    secrets = set(service.get("secrets", [])) | set(overlay.get("secrets", []))
    for s in secrets:
        if s not in declared_secrets:
            problem(where, f"secret {s} is not declared")
    check_paths(where, {**env, **dict(overlay.get("environment", {}))}, mounts, secrets)
    if state_volume not in mounts:
        problem(where, f"no volume at {state_volume} (the image's state)")
    if program == "worker":
        for path in ("/data", "/outputs"):
            if path not in mounts:
                problem(where, f"no shared volume at {path}")
    else:
        check_health_command(where, service.get("healthcheck", {}).get("test", [])[1:])
        ports = [str(p).split(":")[-1] for p in service.get("ports", [])]
        if coordinator_port not in ports:
            problem(where, f"does not publish the coordinator's port {coordinator_port}")
        if http_port not in ports or not env.get("BRAINTUNE_COORDINATOR_HTTP", "").endswith(":" + http_port):
            problem(where, f"does not serve and publish the HTTP port {http_port}")

# The Compose schema itself, by Debian's docker-compose (with .env.example's settings).
for files in (["compose.yaml"], ["compose.yaml", "compose.tls.yaml"]):
    args = ["docker-compose", "--env-file", ".env.example"] + [a for f in files for a in ("-f", f)] + ["config", "-q"]
    try:
        r = subprocess.run(args, cwd=compose_dir, capture_output=True, text=True)
    except FileNotFoundError:
        sys.exit("check_manifests: needs docker-compose (scripts/install-deps)")
    if r.returncode != 0:
        problem(f"deploy/compose ({' + '.join(files)})", f"docker-compose config: {r.stderr.strip()}")

# --- Kubernetes.
k8s_dir = os.path.join(src, "deploy/k8s")
kustomization = yaml.safe_load(open(os.path.join(k8s_dir, "kustomization.yaml")))
documents = []
for resource in kustomization["resources"]:
    path = os.path.join(k8s_dir, resource)
    if not os.path.exists(path):
        problem("deploy/k8s/kustomization.yaml", f"resource {resource} does not exist")
        continue
    documents += [d for d in yaml.safe_load_all(open(path)) if d]
generated = {g["name"]: [f.split("=", 1)[0] for f in g["files"]] for g in kustomization.get("secretGenerator", [])}
for g in kustomization.get("secretGenerator", []):
    for f in g["files"]:
        if not f.split("=", 1)[-1].startswith("secrets/"):
            problem("deploy/k8s/kustomization.yaml", f"secret file {f} is not under secrets/ (kept out of git)")
config_maps = {g["name"] for g in kustomization.get("configMapGenerator", [])}
for g in kustomization.get("configMapGenerator", []):
    for f in g["files"]:
        if not os.path.exists(os.path.join(k8s_dir, f.split("=", 1)[-1])):
            problem("deploy/k8s/kustomization.yaml", f"config file {f} does not exist")
image_names = {i["name"] for i in kustomization.get("images", [])}
claims = {d["metadata"]["name"] for d in documents if d["kind"] == "PersistentVolumeClaim"}
kinds = {(d["kind"], d["metadata"]["name"]) for d in documents}
if ("StatefulSet", "braintune-coordinator") not in kinds or ("DaemonSet", "braintune-worker") not in kinds:
    problem("deploy/k8s", "needs the coordinator StatefulSet and the worker DaemonSet")
service_ports = {}
for d in documents:
    if d["kind"] == "Service":
        service_ports[d["metadata"]["name"]] = {str(p["port"]) for p in d["spec"]["ports"]}
for d in documents:
    if d["kind"] not in ("StatefulSet", "DaemonSet"):
        continue
    spec = d["spec"]["template"]["spec"]
    templates = {t["metadata"]["name"] for t in d["spec"].get("volumeClaimTemplates", [])}
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for c in spec["containers"]:
        where = f"deploy/k8s ({d['kind']} {d['metadata']['name']}, {c['name']})"
        program = "coordinator" if d["kind"] == "StatefulSet" else "worker"
        if c["image"] not in image_names:
            problem(where, f"image {c['image']} is not mapped in kustomization.yaml images")
        if c["image"] != f"braintune-{program}":
            problem(where, f"image {c['image']} is not braintune-{program}")
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        check_env(where, program, env)
        mounts = []
        for m in c.get("volumeMounts", []):
            mounts.append(m["mountPath"])
            v = volumes.get(m["name"])
            if v is None and m["name"] not in templates:
                problem(where, f"volume {m['name']} is not defined")
            elif v is not None and "secret" in v and v["secret"]["secretName"] not in generated:
                problem(where, f"secret {v['secret']['secretName']} is not generated")
            elif v is not None and "configMap" in v and v["configMap"]["name"] not in config_maps:
                problem(where, f"config map {v['configMap']['name']} is not generated")
            elif v is not None and "persistentVolumeClaim" in v and v["persistentVolumeClaim"]["claimName"] not in claims:
                problem(where, f"claim {v['persistentVolumeClaim']['claimName']} is not defined")
            if v is not None and "secret" in v:  # files the env names must be the secret's keys
                for name, value in env.items():
                    if value and value.startswith(m["mountPath"] + "/"):
                        key = value[len(m["mountPath"]) + 1:]
                        if key not in generated.get(v["secret"]["secretName"], []):
                            problem(where, f"{name}={value}: the secret has no key {key}")
        check_paths(where, env, mounts)
        state = env.get("BRAINTUNE_WORKER_WORK_DIR", state_volume) if program == "worker" else state_volume
        if state not in mounts:
            problem(where, f"nothing mounted at {state} (the program's state)")
        ports = {str(p["containerPort"]) for p in c.get("ports", [])}
        if program == "coordinator":
            if coordinator_port not in ports or coordinator_port not in service_ports.get("braintune-coordinator", set()):
                problem(where, f"the port {coordinator_port} is not the container's and the Service's")
            listen = env.get("BRAINTUNE_COORDINATOR_LISTEN", "")
            if not listen.endswith(":" + coordinator_port):
                problem(where, f"listens on {listen}, not port {coordinator_port}")
            if not env.get("BRAINTUNE_COORDINATOR_HTTP", "").endswith(":" + http_port) or http_port not in ports \
                    or http_port not in service_ports.get("braintune-coordinator", set()):
                problem(where, f"the HTTP port {http_port} is not served, the container's and the Service's")
            for probe in ("readinessProbe", "livenessProbe"):
                check_health_command(f"{where} {probe}", c.get(probe, {}).get("exec", {}).get("command", []))
        else:
            if env.get("BRAINTUNE_WORKER_EXEC_PORT") not in ports:
                problem(where, "the NodeExec port is not a container port")
            if not env.get("BRAINTUNE_WORKER_COORDINATOR", "").endswith(":" + coordinator_port):
                problem(where, "the coordinator address is not at its port")
            for path in ("/data", "/outputs"):
                if path not in mounts:
                    problem(where, f"no shared volume at {path}")
            if "nvidia.com/gpu" not in c.get("resources", {}).get("limits", {}):
                problem(where, "requests no nvidia.com/gpu")

# --- Prometheus: the scrape config and the alert rules, by Debian's promtool; the rules name
# only metrics the coordinator exports.
# promtool opens the token file the config names: the check runs on a copy whose token exists.
prom_dir = os.path.join(src, "deploy/prometheus")
check_dir = tempfile.mkdtemp(prefix="check_manifests.")
with open(os.path.join(check_dir, "metrics.token"), "w") as f:
    f.write("a-token\n")
shutil.copy(os.path.join(prom_dir, "alerts.yml"), check_dir)
config = yaml.safe_load(open(os.path.join(prom_dir, "prometheus.yml")))
for scrape in config.get("scrape_configs", []):
    if "credentials_file" in scrape.get("authorization", {}):
        scrape["authorization"]["credentials_file"] = os.path.join(check_dir, "metrics.token")
with open(os.path.join(check_dir, "prometheus.yml"), "w") as f:
    yaml.safe_dump(config, f)
for what, name in (("rules", "alerts.yml"), ("config", "prometheus.yml")):
    try:
        r = subprocess.run(["promtool", "check", what, name], cwd=check_dir, capture_output=True, text=True)
    except FileNotFoundError:
        sys.exit("check_manifests: needs promtool (Debian's prometheus; scripts/install-deps)")
    if r.returncode != 0:
        problem(f"deploy/prometheus/{name}", f"promtool check {what}: {(r.stdout + r.stderr).strip()}")
metrics_source = open(os.path.join(src, "src/coordinator/metrics.cc")).read()
for rule in yaml.safe_load(open(os.path.join(prom_dir, "alerts.yml")))["groups"][0]["rules"]:
    for metric in re.findall(r"\b(braintune_[a-z_]+)", rule["expr"]):
        if f'"{metric}"' not in metrics_source:
            problem("deploy/prometheus/alerts.yml", f"{rule['alert']} uses {metric}, which the coordinator does not export")

for p in problems:
    print(p)
shutil.rmtree(check_dir, ignore_errors=True)
print(f"check_manifests: {len(problems)} problems in docker/, deploy/compose, deploy/k8s and deploy/prometheus")
sys.exit(1 if problems else 0)
