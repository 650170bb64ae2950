#!/usr/bin/env bash
# make image-check: prove the image `make image` built works, inside it, as uid 10001 (the CronJob's):
#   gameday --version; gameday run --help; environments/gke-staging.example.yaml loaded through
#   gameday.targets.environment.load; python -m gameday.schema --check; the --env lookup the CronJob
#   uses; the user and the writable /reports and $HOME.
# Twice, two ways: `buildah run` in a working container, and the image pushed to an OCI layout,
# unpacked with umoci and entered with chroot (what a runtime does, without one). Exits non-zero on
# the first failure. Every command has a timeout.
set -euo pipefail

IMAGE=${IMAGE:-localhost/gameday:latest}
if [[ -n "${GAMEDAY_CACHE:-}" ]]; then CACHE=$GAMEDAY_CACHE
elif [[ $(id -u) -eq 0 ]]; then CACHE=/var/cache/gameday
else CACHE=$HOME/.cache/gameday; fi
WORK=$CACHE/image
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}
T=${CHECK_TIMEOUT:-120}

log() { printf '[image-check] %s\n' "$*" >&2; }
buildah inspect --type image "$IMAGE" >/dev/null 2>&1 || { log "no image $IMAGE: run make image"; exit 1; }

# The checks, as one shell script run inside the image (as uid 10001 by the caller).
read -r -d '' CHECKS <<'SH' || true
set -eu
echo "uid=$(id -u) gid=$(id -g) home=$HOME python=$(python --version 2>&1) at $(command -v python)"
test "$(id -u)" = 10001
echo "--- gameday --version"; gameday --version
echo "--- gameday run --help"; gameday run --help >/tmp/run-help.txt; head -3 /tmp/run-help.txt
grep -q -- '--suite' /tmp/run-help.txt && grep -q -- '--no-install' /tmp/run-help.txt && grep -q -- '--reports' /tmp/run-help.txt
echo "--- environment file"
python - <<'PY'
from gameday.targets.environment import ENVIRONMENTS, load
env = load(ENVIRONMENTS / "gke-staging.example.yaml")
assert env.kind == "kubernetes" and env.allowed, env
print(f"OK {env.source}: name={env.name} kind={env.kind} production={env.production} "
      f"context={env.kubernetes.get('context')} web={env.kubernetes.get('web', {}).get('namespace')}")
env = load("gke-staging.example")  # by name, as the CronJob's --env finds it
print(f"OK --env lookup: gke-staging.example -> {env.source}")
PY
echo "--- python -m gameday.schema --check"; cd /opt/gameday && python -m gameday.schema --check && echo "OK schemas/ match the models"
echo "--- writable"; touch /reports/.probe "$HOME/.probe" && rm /reports/.probe "$HOME/.probe" && echo "OK /reports and $HOME writable"
SH

log "1/2 buildah run --user 10001:10001 $IMAGE"
ctr=$(buildah from --pull-never "$IMAGE")
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
timeout "$T" buildah run --user 10001:10001 "$ctr" -- sh -c "$CHECKS"
buildah rm "$ctr" >/dev/null; trap - EXIT

log "2/2 umoci unpack + chroot --userspec=10001:10001"
OCI=$WORK/oci; BUNDLE=$WORK/bundle
rm -rf "$OCI" "$BUNDLE"
trap 'rm -rf "$OCI" "$BUNDLE"' EXIT
timeout 600 buildah push --quiet "$IMAGE" "oci:$OCI:gameday" >/dev/null
timeout 600 umoci unpack --image "$OCI:gameday" "$BUNDLE" >/dev/null
# The runtime's view: the image config's environment, user and working directory (from config.json).
mapfile -t ENVV < <(python3 -c 'import json,sys; [print(e) for e in json.load(open(sys.argv[1]))["process"]["env"]]' "$BUNDLE/config.json")
read -r USR CWD < <(python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["process"]; u=p["user"]; print(str(u["uid"])+":"+str(u["gid"]), p["cwd"])' "$BUNDLE/config.json")
log "image config: user=$USR cwd=$CWD"
[[ $USR == 10001:10001 ]] || { log "the image's user is $USR, not 10001:10001"; exit 1; }
timeout "$T" env -i "${ENVV[@]}" chroot --userspec="$USR" "$BUNDLE/rootfs" sh -c "cd $CWD && $CHECKS"
log "OK: $IMAGE passed every check both ways"
