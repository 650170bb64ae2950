#!/usr/bin/env bash
# make image: build the container image deploy/ runs (`image: gameday`) with buildah, no registry.
#
#   1. base: debootstrap a bookworm minbase rootfs (python3, python3-venv, ca-certificates), cached as
#      a tarball in $GAMEDAY_CACHE/image (default /var/cache/gameday/image), imported as
#      localhost/gameday-base:<key> (buildah from scratch + add + commit);
#   2. wheels: every dependency, pinned by constraints.txt, downloaded once (pip wheel, host Python 3.11);
#   3. context: the committed tree (git archive HEAD) plus untracked environments/*.yaml (the real
#      gke-*.yaml an overlay names is baked in, as deploy/README.md says), and the wheels;
#   4. buildah build deploy/image/Containerfile -> localhost/gameday:<content hash> and :latest.
# Idempotent: each step is skipped when its output exists; the image is rebuilt only when the
# context changes (FORCE=1 rebuilds it anyway). Every step that waits has a timeout.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
if [[ -n "${GAMEDAY_CACHE:-}" ]]; then CACHE=$GAMEDAY_CACHE
elif [[ $(id -u) -eq 0 ]]; then CACHE=/var/cache/gameday
else CACHE=$HOME/.cache/gameday; fi
WORK=$CACHE/image
PYTHON=${PYTHON:-python3.11}
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES=python3,python3-venv,ca-certificates
IMAGE=${IMAGE:-localhost/gameday}
# No overlay filesystem and no user namespaces here: vfs storage and chroot isolation work everywhere.
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}

log() { printf '[image] %s\n' "$*" >&2; }
die() { printf '[image] error: %s\n' "$*" >&2; exit 1; }
# set -e exits without a word: say which command stopped the script (a bare `false` in a pipeline too).
trap 'rc=$?; printf "[image] error: line %s: status %s (last command run: %s)\n" "$LINENO" "$rc" "$BASH_COMMAND" >&2' ERR

[[ $(id -u) -eq 0 ]] || die "run as root (debootstrap, and buildah with vfs storage, need it)"
mkdir -p "$WORK"

# --- tools ---------------------------------------------------------------------------------------
missing=()
for tool in buildah debootstrap umoci; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
  log "installing Debian's ${missing[*]}"
  timeout 600 apt-get install -y --no-install-recommends "${missing[@]}" >"$WORK/apt.log" 2>&1 \
    || { timeout 300 apt-get update >>"$WORK/apt.log" 2>&1 \
         && timeout 600 apt-get install -y --no-install-recommends "${missing[@]}" >>"$WORK/apt.log" 2>&1; } \
    || die "apt-get install ${missing[*]} failed (see $WORK/apt.log)"
fi
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null \
  || die "$PYTHON is not Python 3.11 (set PYTHON=...): the wheels must match the image's python3"

# --- 1. base rootfs and base image ----------------------------------------------------------------
BASE_KEY=$(printf '%s\n' "$SUITE" minbase "$PACKAGES" | sha256sum | cut -c1-12)
ROOTFS_TAR=$WORK/rootfs-$SUITE-$BASE_KEY.tar
BASE_IMAGE=localhost/gameday-base:$SUITE-$BASE_KEY
if [[ ! -s $ROOTFS_TAR ]]; then
  tmp=$WORK/rootfs-$SUITE-$BASE_KEY.tmp
  rm -rf "$tmp"
  log "debootstrap $SUITE (minbase + $PACKAGES) from $MIRROR (a few minutes, once)"
  timeout 1800 debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$tmp" "$MIRROR" \
    >"$WORK/debootstrap.log" 2>&1 || die "debootstrap failed (see $WORK/debootstrap.log)"
  rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/* "$tmp"/var/log/* "$tmp"/tmp/* \
         "$tmp"/dev/* "$tmp"/etc/resolv.conf "$tmp"/etc/hostname   # the runtime provides these
  tar --numeric-owner --xattrs -C "$tmp" -cf "$ROOTFS_TAR.part" .
  mv "$ROOTFS_TAR.part" "$ROOTFS_TAR"
  rm -rf "$tmp"
fi
if ! buildah inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
  log "importing $ROOTFS_TAR as $BASE_IMAGE"
  ctr=$(buildah from --pull-never scratch)
  trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
  timeout 600 buildah add "$ctr" "$ROOTFS_TAR" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/bash \
    --label org.opencontainers.image.description="debian $SUITE minbase + $PACKAGES (debootstrap)" "$ctr"
  timeout 900 buildah commit --quiet --rm "$ctr" "$BASE_IMAGE" >/dev/null
  trap - EXIT
fi

# --- 2. wheels ------------------------------------------------------------------------------------
DEPS=$("$PYTHON" - "$ROOT/pyproject.toml" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as fh:
    project = tomllib.load(fh)
print("\n".join([*project["build-system"]["requires"], *project["project"]["dependencies"]]))
PY
)
WHEEL_KEY=$(cat "$ROOT/constraints.txt" <(printf '%s\n' "$DEPS") | sha256sum | cut -c1-12)
WHEELS=$WORK/wheels-$WHEEL_KEY
if [[ ! -f $WHEELS/.complete ]]; then
  log "downloading the dependencies' wheels into $WHEELS (once)"
  mkdir -p "$WHEELS"
  printf '%s\n' "$DEPS" >"$WORK/requirements-$WHEEL_KEY.txt"
  timeout 1200 "$PYTHON" -m pip wheel --quiet --disable-pip-version-check --timeout 60 \
    -c "$ROOT/constraints.txt" -r "$WORK/requirements-$WHEEL_KEY.txt" -w "$WHEELS" \
    >"$WORK/pip.log" 2>&1 || die "pip wheel failed (see $WORK/pip.log)"
  touch "$WHEELS/.complete"
fi

# --- 3. context -----------------------------------------------------------------------------------
CTX=$WORK/context
rm -rf "$CTX"; mkdir -p "$CTX/project"
REVISION=$(git -C "$ROOT" rev-parse HEAD)
git -C "$ROOT" archive --format=tar HEAD -- gameday environments experiments loadtests recovery_playbooks \
  inventory schemas targets.yaml pyproject.toml constraints.txt README.md | tar -C "$CTX/project" -xf -
git -C "$ROOT" ls-files --others --exclude-standard -z -- 'environments/*.yaml' \
  | while IFS= read -r -d '' f; do log "baking in untracked $f"; cp "$ROOT/$f" "$CTX/project/$f"; done
for overlay_env in gke-staging gke-production; do   # what deploy/overlays pass as --env
  [[ -f $CTX/project/environments/$overlay_env.yaml ]] \
    || log "note: no environments/$overlay_env.yaml (made from its .example): the $overlay_env CronJob would fail"
done
cp -al "$WHEELS" "$CTX/wheels" 2>/dev/null || cp -a "$WHEELS" "$CTX/wheels"
rm -f "$CTX/wheels/.complete"
TAG=$( (cd "$CTX" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum;
        echo "$BASE_IMAGE"; sha256sum "$HERE/Containerfile") | sha256sum | cut -c1-12)

# --- 4. image -------------------------------------------------------------------------------------
if [[ -z ${FORCE:-} ]] && buildah inspect --type image "$IMAGE:$TAG" >/dev/null 2>&1; then
  log "$IMAGE:$TAG is up to date (FORCE=1 rebuilds it)"
else
  log "building $IMAGE:$TAG from $BASE_IMAGE (revision ${REVISION:0:12})"
  # Quiet on the terminal; every step's output in BUILD_LOG, and its tail shown if the build fails.
  BUILD_LOG=$WORK/buildah-build.log
  if ! timeout 1800 buildah build --pull-never --layers=false -f "$HERE/Containerfile" \
      --build-arg BASE="$BASE_IMAGE" --build-arg REVISION="$REVISION" -t "$IMAGE:$TAG" "$CTX" \
      >"$BUILD_LOG" 2>&1; then
    tail -n 30 "$BUILD_LOG" | sed 's/^/[image]   | /' >&2
    die "buildah build failed (see $BUILD_LOG; the context is kept in $CTX)"
  fi
fi
buildah tag "$IMAGE:$TAG" "$IMAGE:latest"
rm -rf "$CTX"
# vfs keeps every layer whole: drop the earlier builds of this script (content-hash tags) but this one.
# No grep here: under pipefail a grep that selects nothing (no earlier build: a cold build, or a rerun
# with nothing to do) failed the pipeline, and set -e ended make image silently after a good build.
names=$(buildah images --format '{{.Name}}:{{.Tag}}' --filter reference="$IMAGE")
while read -r old; do
  [[ $old =~ :[0-9a-f]{12}$ && $old != "$IMAGE:$TAG" ]] || continue
  log "removing the earlier build $old"
  buildah rmi "$old" >/dev/null || log "note: could not remove $old"
done <<<"$names"
buildah images --filter reference="$IMAGE" >&2
echo "$IMAGE:$TAG"
