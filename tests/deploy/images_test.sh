#!/usr/bin/env bash
# The images, built and run for real (issue 18; docs/deploy.md):
#  1. a Debian 12 base from Debian's packages (debootstrap --variant=minbase), kept as an OCI
#     tarball in $BRAINTUNE_IMAGE_CACHE (default /var/cache/braintune-images) for the next run;
#  2. the coordinator and worker images from docker/Dockerfile with buildah (the host's ccache
#     mounted into the builder);
#  3. the images checked: the coordinator's has no LibTorch and no MPI (its size is printed),
#     the OCI labels and the HEALTHCHECK are there;
#  4. a pool run from them: a coordinator container (as its unprivileged user, auth on) and two
#     worker containers (host network, the node's accounts read-only, shared datasets and outputs
#     volumes, agent tokens as mounted files); from outside, the CLI submits the quickstart job
#     with a user's token; it succeeds as that user's Unix account and its outputs are on the
#     shared volume; `braintune health` passes on the live coordinator; the coordinator is
#     stopped (the health check then fails) and started again, and still lists the job.
# usage: images_test.sh SOURCE_DIR BUILD_DIR   (as root; needs buildah, debootstrap, the mirror)
set -euo pipefail
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
bin=$build/services
say() { echo "images_test: $*"; }
fail() { echo "images_test: FAILED: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (buildah, and a Unix account for the job)"
command -v buildah >/dev/null && command -v debootstrap >/dev/null || fail "needs buildah and debootstrap (scripts/install-deps)"

cache=${BRAINTUNE_IMAGE_CACHE:-/var/cache/braintune-images}
work=$(mktemp -d /tmp/braintune-images.XXXXXX)
chmod 755 "$work"
tag=test-$$
base=localhost/braintune-base:bookworm
account=bt-img-alice
made_account=0
prefix=img$$  # this run's node names: the processes it starts are told apart by them
containers=()
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  pkill -f "^braintune-worker --name $prefix-" 2>/dev/null || true
  [ -n "${port:-}" ] && pkill -f "^braintune-coordinator --listen 127.0.0.1:$port\$" 2>/dev/null || true
  sleep 1
  for c in "${containers[@]}"; do buildah rm "$c" >/dev/null 2>&1 || true; done
  buildah rmi "localhost/braintune-coordinator:$tag" "localhost/braintune-worker:$tag" >/dev/null 2>&1 || true
  [ "$made_account" = 1 ] && userdel "$account" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
start=$(date +%s)
elapsed() { echo "$(( $(date +%s) - start )) s"; }

# 1. The base image.
if ! buildah inspect --type image "$base" >/dev/null 2>&1; then
  if [ -f "$cache/base.tar" ]; then
    say "base image from $cache/base.tar"
    buildah pull -q "oci-archive:$cache/base.tar" >/dev/null
    buildah tag "$(buildah images -q --filter reference='*braintune-base*' | head -1)" "$base" 2>/dev/null || true
  fi
fi
if ! buildah inspect --type image "$base" >/dev/null 2>&1; then
  say "base image: debootstrap --variant=minbase bookworm"
  debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log"; fail "debootstrap"; }
  # The sources of debian:bookworm-slim: the release, its updates and security.
  rm -f "$work/rootfs/etc/apt/sources.list"
  cat >"$work/rootfs/etc/apt/sources.list.d/debian.sources" <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
  ctr=$(buildah from scratch)
  mnt=$(buildah mount "$ctr")
  cp -a "$work/rootfs/." "$mnt/"
  buildah umount "$ctr" >/dev/null
  buildah config --cmd /bin/bash "$ctr"
  buildah commit -q "$ctr" "$base" >/dev/null
  buildah rm "$ctr" >/dev/null
  rm -rf "$work/rootfs"
  mkdir -p "$cache"
  buildah push -q "$base" "oci-archive:$cache/base.tar:$base" >/dev/null
  say "base image kept in $cache/base.tar"
fi
say "base ready ($(elapsed))"

# 2. The images. --layers: the builder stage is built once for both.
ccache_dir=$(ccache -k cache_dir 2>/dev/null || echo "$HOME/.cache/ccache")
mkdir -p "$ccache_dir"
revision=$(git -C "$src" rev-parse HEAD 2>/dev/null || echo unknown)
for target in coordinator worker; do
  say "building braintune-$target"
  buildah bud --isolation chroot --layers --format docker --target "$target" \
    --build-arg BASE="$base" --build-arg VERSION=test --build-arg REVISION="$revision" \
    -v "$ccache_dir:/ccache" -v /var/cache/apt/archives:/var/cache/apt/archives \
    -f "$src/docker/Dockerfile" -t "localhost/braintune-$target:$tag" "$src" >"$work/build-$target.log" 2>&1 ||
    { tail -40 "$work/build-$target.log"; fail "building braintune-$target"; }
  grep -h "^builder:" "$work/build-$target.log" | head -1 || true
done
say "images built ($(elapsed))"

# 3. What is in them.
buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' | grep ":$tag" | sed 's/^/images_test: size: /'
coord=$(buildah from -q "localhost/braintune-coordinator:$tag")
containers+=("$coord")
if buildah run --isolation chroot "$coord" -- sh -c 'ls /usr/lib/x86_64-linux-gnu /usr/lib | grep -qi "libtorch\|libc10"' 2>/dev/null; then
  fail "the coordinator image holds LibTorch"
fi
if buildah run --isolation chroot "$coord" -- sh -c 'command -v mpirun' 2>/dev/null; then
  fail "the coordinator image holds MPI"
fi
[ "$(buildah inspect --format '{{.Docker.Config.User}}' "localhost/braintune-coordinator:$tag")" = braintune ] ||
  fail "the coordinator image does not run as its user braintune"
[ "$(buildah inspect --format '{{index .Docker.Config.Labels "org.opencontainers.image.revision"}}' "localhost/braintune-coordinator:$tag")" = "$revision" ] ||
  fail "no org.opencontainers.image.revision label"
buildah inspect --format '{{.Docker.Config.Healthcheck.Test}}' "localhost/braintune-coordinator:$tag" | grep -q "braintune health" ||
  fail "no HEALTHCHECK through braintune health"
worker_img=$(buildah from -q "localhost/braintune-worker:$tag")
containers+=("$worker_img")
buildah run --isolation chroot "$worker_img" -- sh -c 'command -v mpirun && braintune-train --help >/dev/null' >/dev/null ||
  fail "the worker image cannot run mpirun or braintune-train"
say "images checked ($(elapsed))"

# 4. A pool of containers.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
http_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/state" "$work/datasets" "$work/outputs" "$work/secrets" "$work/node-a" "$work/node-b"
chown 10001:10001 "$work/state"
chmod 1777 "$work/outputs"  # every job account writes its own output directory here
if ! id "$account" >/dev/null 2>&1; then
  useradd --no-create-home --shell /usr/sbin/nologin "$account"
  made_account=1
fi
cat >"$work/state/policy.yaml" <<POLICY
users:
  alice: {account: $account}
POLICY
chown 10001:10001 "$work/state/policy.yaml"
token() {  # the coordinator image's own tool, on its volume
  buildah run --isolation chroot --user braintune -v "$work/state:/var/lib/braintune" "$coord" -- \
    braintune-coordinator token create --db /var/lib/braintune/jobs.db "$@" 2>>"$work/token.log" | head -1
}
alice_token=$(token --user alice --role user)
metrics_token=$(token --user prometheus --role metrics)
token --node "$prefix-node-a" --role agent >"$work/secrets/node-a.token"
token --node "$prefix-node-b" --role agent >"$work/secrets/node-b.token"
chmod 600 "$work/secrets/"*.token
[ -n "$alice_token" ] && [ -s "$work/secrets/node-b.token" ] ||
  { cat "$work/token.log"; fail "no token from braintune-coordinator token create"; }

start_coordinator() {
  buildah run --isolation chroot --network host --user braintune -v "$work/state:/var/lib/braintune" "$coord" -- \
    env BRAINTUNE_COORDINATOR_POLICY=/var/lib/braintune/policy.yaml BRAINTUNE_COORDINATOR_HTTP="127.0.0.1:$http_port" \
    braintune-coordinator --listen "127.0.0.1:$port" >>"$work/coordinator.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    "$bin/braintune" health --coordinator "127.0.0.1:$port" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  cat "$work/coordinator.log"
  fail "the coordinator container never served"
}
start_coordinator
uid=$(ps -o uid= -p "$(pgrep -f "^braintune-coordinator --listen 127.0.0.1:$port\$" | head -1)" | tr -d ' ')
[ "$uid" = 10001 ] || fail "the coordinator runs as uid '$uid', not its image's user (10001)"
for node in node-a node-b; do
  w=$(buildah from -q "localhost/braintune-worker:$tag")
  containers+=("$w")
  buildah run --isolation chroot --network host \
    -v "$work/$node:/var/lib/braintune" -v "$work/datasets:/data:ro" -v "$work/outputs:/outputs" \
    -v /etc/passwd:/etc/passwd:ro -v /etc/group:/etc/group:ro -v "$work/secrets:/run/secrets:ro" "$w" -- \
    env BRAINTUNE_WORKER_COORDINATOR="127.0.0.1:$port" BRAINTUNE_WORKER_SLOTS=2 \
    BRAINTUNE_WORKER_TOKEN_FILE="/run/secrets/$node.token" braintune-worker --name "$prefix-$node" >"$work/$node.log" 2>&1 &
  pids+=($!)
done
export BRAINTUNE_TOKEN=$alice_token BRAINTUNE_COORDINATOR="127.0.0.1:$port"
"$bin/braintune" dataset synth --out "$work/datasets/quickstart.h5" --participants 8 --stories 10 --story-seconds 240 >/dev/null
chmod 644 "$work/datasets/quickstart.h5"
sed -e 's|path: ../data/quickstart.h5|path: /data/quickstart.h5|' -e 's|dir: ../.quickstart/tuned|dir: /outputs/quickstart|' \
  "$src/configs/quickstart.yaml" >"$work/quickstart.yaml"
say "pool up; submitting the quickstart job as alice ($(elapsed))"
if ! "$bin/braintune" submit "$work/quickstart.yaml" --watch >"$work/submit.log" 2>&1; then
  tail -30 "$work/submit.log"; tail -30 "$work/node-a.log" "$work/node-b.log"; tail -20 "$work/coordinator.log"
  fail "the quickstart job did not succeed"
fi
tail -3 "$work/submit.log" | sed 's/^/images_test: job: /'
[ -f "$work/outputs/quickstart/result.json" ] || fail "no result.json on the shared outputs volume"
owner=$(stat -c %U "$work/outputs/quickstart/result.json")
[ "$owner" = "$account" ] || fail "the outputs belong to $owner, not the job account $account"
job=$("$bin/braintune" list --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')
say "job $job succeeded as $account, outputs on the shared volume ($(elapsed))"
# The image's HTTP side: /metrics for a metrics token counts the job.
python3 - "$http_port" "$metrics_token" <<'PY' || fail "the coordinator image's /metrics does not count the job"
import sys, urllib.request
request = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/metrics", headers={"Authorization": "Bearer " + sys.argv[2]})
body = urllib.request.urlopen(request, timeout=10).read().decode()
assert 'braintune_jobs{state="SUCCEEDED",user="alice"' in body, body[:3000]
PY

# The coordinator stopped: its health check fails; started again: it still lists the job.
buildah run --isolation chroot --network host "$coord" -- braintune health --coordinator "127.0.0.1:$port" >/dev/null ||
  fail "braintune health fails on a live coordinator"
pkill -TERM -f "^braintune-coordinator --listen 127.0.0.1:$port\$"
for _ in $(seq 1 50); do pgrep -f "^braintune-coordinator --listen 127.0.0.1:$port\$" >/dev/null || break; sleep 0.2; done
if buildah run --isolation chroot --network host "$coord" -- braintune health --coordinator "127.0.0.1:$port" --timeout-ms 1000 >/dev/null 2>&1; then
  fail "braintune health passes on a stopped coordinator"
fi
start_coordinator
"$bin/braintune" list | grep -q "$job.*SUCCEEDED" || { "$bin/braintune" list; fail "the restarted coordinator lost job $job"; }
say "the restarted coordinator still lists $job as SUCCEEDED; all checks passed ($(elapsed))"
