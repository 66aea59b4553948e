#!/usr/bin/env bash
# prepare.sh: build everything the real-cluster e2e harness needs, into a cache
# directory kept between runs on the same machine. Idempotent: a warm re-run
# takes seconds; any output whose inputs changed is rebuilt.
#
# Usage: e2e/build/prepare.sh [-h]
#
# Environment:
#   HN_CACHE          cache/output directory (default /var/cache/hybridnode-e2e)
#   HN_DEBIAN_MIRROR  Debian mirror for debootstrap (default http://deb.debian.org/debian)
#   HN_SKIP_ROOTFS=1  do not build the node template root filesystem
#
# Outputs (see the summary printed at the end, and $HN_CACHE/prepare.env,
# a shell fragment with every path and version for the harness to source):
#   $HN_CACHE/k8s/<v>/{kubeadm,kubelet,kube-apiserver,kube-controller-manager,kube-scheduler,kubectl}
#   $HN_CACHE/crictl/<v>/crictl
#   $HN_CACHE/containerd/<v>/containerd-<v>-linux-amd64.tar.gz   (2.x, and 1.7 for one node)
#   $HN_CACHE/artifacts/      artifact tree in the docs/architecture.md layout + SHA256SUMS
#   $HN_CACHE/images/pause-<v>/, $HN_CACHE/images/busybox/   OCI image layouts
#   $HN_CACHE/rootfs/bookworm/   node template root (complete when rootfs/bookworm.complete exists)
#
# Needs root, Go (>= the go directives under e2e/build and e2e/images), the Go
# module proxy and a Debian mirror. Installs missing Debian packages itself.
set -euo pipefail
umask 022

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
HN_CACHE=${HN_CACHE:-/var/cache/hybridnode-e2e}
HN_DEBIAN_MIRROR=${HN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
HN_SKIP_ROOTFS=${HN_SKIP_ROOTFS:-0}

case "${1:-}" in
-h | --help)
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
	exit 0
	;;
"") ;;
*)
	echo "usage: $0 [-h]" >&2
	exit 2
	;;
esac

# Reproducible, static Go builds; never stamp the hybridnode repository's VCS
# state into the binaries.
export CGO_ENABLED=0 GOOS=linux GOARCH=amd64
export GOFLAGS="-buildvcs=false${GOFLAGS:+ $GOFLAGS}"

# Build inputs, and what the harness runs on the host side (nspawn, etcd,
# the registry, rpm for the package checks): a fresh machine has none of them.
DEBIAN_PACKAGES=(debootstrap busybox-static containernetworking-plugins runc skopeo systemd-container etcd-server etcd-client docker-registry rpm tinyproxy)   # tinyproxy: cases/proxy.sh
ROOTFS_SUITE=bookworm
ROOTFS_INCLUDE=systemd,systemd-sysv,dbus,iproute2,ca-certificates
ROOTFS_PACKAGES=(iptables conntrack socat ethtool kmod procps curl rpm)   # rpm: the Alibaba Cloud Linux-like node installs the .rpm
ROOTFS_RECIPE=1 # bump when step_rootfs changes what ends up in the tree
PAUSE_VERSION=3.10.2 # what kubeadm v1.37 expects (kubeadm config images list)
PAUSE_REF=registry.k8s.io/pause:$PAUSE_VERSION
BUSYBOX_REF=hybridnode.local/busybox:1

LOGS=$HN_CACHE/logs
TIMINGS=$LOGS/timings.$$
T0=$(date +%s.%N)

log() { printf '[prepare %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

# ---------------------------------------------------------------- helpers

# modver DIR MODULE: the version DIR/go.mod requires MODULE at.
modver() {
	awk -v m="$2" '($1 == "require" && $2 == m) { print $3; exit } ($1 == m && $2 ~ /^v/) { print $2; exit }' "$1/go.mod"
}

# debver PACKAGE: upstream version of an installed Debian package, as vX.Y.Z
# (epoch, Debian revision and +ds/+b suffixes dropped).
debver() {
	local v
	v=$(dpkg-query -W -f='${Version}' "$1")
	v=${v#*:}
	v=${v%%[-+~]*}
	echo "v$v"
}

# hash_inputs ARG...: sha256 over files (content) and plain strings.
hash_inputs() {
	local a
	for a in "$@"; do
		if [[ -f $a ]]; then
			printf 'file %s\n' "${a#"$REPO"/}"
			sha256sum <"$a"
		else
			printf 'str %s\n' "$a"
		fi
	done | sha256sum | cut -d' ' -f1
}

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

stamp_ok() { [[ -f $HN_CACHE/stamps/$1 && $(<"$HN_CACHE/stamps/$1") == "$2" ]]; }
stamp_set() {
	mkdir -p "$HN_CACHE/stamps"
	echo "$2" >"$HN_CACHE/stamps/$1"
}
stamp_clear() { rm -f "$HN_CACHE/stamps/$1"; }

# step NAME FUNC: run FUNC with its output in $LOGS/NAME.log, record its time.
step() {
	local name=$1 fn=$2 t rc=0
	t=$(date +%s.%N)
	log "$name: start (log $LOGS/$name.log)"
	# A background subshell, so that errexit applies inside FUNC (it would be
	# ignored in a `||` context).
	(
		set -e
		"$fn"
	) >"$LOGS/$name.log" 2>&1 &
	wait $! || rc=$?
	t=$(elapsed "$t")
	printf '%-12s %7.1fs  %s\n' "$name" "$t" "$(if ((rc == 0)); then tail -n1 "$LOGS/$name.log"; else echo "FAILED rc=$rc"; fi)" >>"$TIMINGS"
	if ((rc != 0)); then
		log "$name: FAILED (rc=$rc), last lines of $LOGS/$name.log:"
		tail -n 30 "$LOGS/$name.log" >&2
		return "$rc"
	fi
	log "$name: done in ${t}s"
}

# Background steps: started early, waited for before they are needed. A
# failed background step stops the run at the next bg_check (between
# foreground steps, and while waiting), not only when it is waited for.
declare -A BG_PID=()
bg_step() {
	step "$1" "$2" &
	BG_PID[$1]=$!
}
bg_check() {
	local n
	for n in "${!BG_PID[@]}"; do
		if ! kill -0 "${BG_PID[$n]}" 2>/dev/null; then
			wait "${BG_PID[$n]}" || { unset "BG_PID[$n]" && die "$n failed"; }
			unset "BG_PID[$n]"
		fi
	done
}
bg_wait() {
	while [[ -n ${BG_PID[$1]:-} ]]; do
		bg_check
		[[ -z ${BG_PID[$1]:-} ]] || sleep 1
	done
}

kill_tree() {
	local c
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do kill_tree "$c"; done
	kill "$1" 2>/dev/null || true
}

cleanup() {
	local rc=$? n c
	for n in "${!BG_PID[@]}"; do log "stopping background step $n"; done
	# Every process this script started (foreground and background steps).
	for c in $(ps -o pid= --ppid $$); do kill_tree "$c"; done
	wait 2>/dev/null || true
	rm -f "$TIMINGS"
	((rc == 0)) || log "FAILED (see $LOGS)"
	exit "$rc"
}

# ---------------------------------------------------------------- steps

step_packages() {
	local p missing=()
	for p in "${DEBIAN_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		echo "all present: ${DEBIAN_PACKAGES[*]}"
		return
	fi
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y --no-install-recommends "${missing[@]}" ||
		{ apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"; }
	echo "installed: ${missing[*]}"
}

# Kubernetes: one `go build` of all six commands from the e2e/build/k8s module;
# kubeadm and kubelet of an older minor (the version-skew case) from k8s134.
K8S_NAMES=(kubeadm kubelet kube-apiserver kube-controller-manager kube-scheduler kubectl)
K8S_OLD_NAMES=(kubeadm kubelet)
k8s_ldflags() { # DIR VERSION
	local v=$2 major minor date p flags="-s -w"
	major=${v#v}
	major=${major%%.*}
	minor=${v#v*.}
	minor=${minor%%.*}
	# Build date: the module's publication time, so rebuilds are reproducible.
	date=$(cd "$1" && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		flags+=" -X $p.gitVersion=$v -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=$date"
	done
	echo "$flags"
}
# build_k8s DIR VERSION NAME...: the commands of k8s.io/kubernetes VERSION
# (the module in DIR) into $HN_CACHE/k8s/VERSION, each checked to report it.
build_k8s() {
	local dir=$1 v=$2 out=$HN_CACHE/k8s/$2 n ok=1 h ldflags pkgs=()
	shift 2
	ldflags=$(k8s_ldflags "$dir" "$v")
	# Inputs: the module, the commands and the flags (not the Go version: a
	# toolchain update alone does not trigger an 11-minute rebuild).
	h=$(hash_inputs "$dir/go.mod" "$dir/go.sum" "$*" "CGO_ENABLED=0 -trimpath $ldflags")
	for n in "$@"; do [[ -x $out/$n ]] || ok=0; done
	if ((ok)) && stamp_ok "k8s-$v" "$h"; then
		echo "cached $out"
		return
	fi
	stamp_clear "k8s-$v"
	for n in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$n"); done
	rm -rf "$out.tmp"
	mkdir -p "$out.tmp"
	echo "go build -trimpath -ldflags '$ldflags' -o $out.tmp/ ${pkgs[*]}"
	(cd "$dir" && go build -trimpath -ldflags "$ldflags" -o "$out.tmp/" "${pkgs[@]}")
	local got
	got=$("$out.tmp/kubeadm" version -o short)
	[[ $got == "$v" ]] || die "kubeadm reports $got, want $v"
	got=$("$out.tmp/kubelet" --version)
	[[ $got == "Kubernetes $v" ]] || die "kubelet reports $got, want Kubernetes $v"
	rm -rf "$out"
	mv "$out.tmp" "$out"
	stamp_set "k8s-$v" "$h"
	echo "built $out"
}
step_k8s() { build_k8s "$HERE/k8s" "$K8S_VERSION" "${K8S_NAMES[@]}"; }
step_k8s_old() { build_k8s "$HERE/k8s134" "$K8S_OLD_VERSION" "${K8S_OLD_NAMES[@]}"; }

step_crictl() {
	local out=$HN_CACHE/crictl/$CRICTL_VERSION h
	h=$(hash_inputs "$HERE/crictl/go.mod" "$HERE/crictl/go.sum" "$(go env GOVERSION)" "$(declare -f step_crictl)")
	if [[ -x $out/crictl ]] && stamp_ok "crictl-$CRICTL_VERSION" "$h"; then
		echo "cached $out/crictl"
		return
	fi
	stamp_clear "crictl-$CRICTL_VERSION"
	mkdir -p "$out"
	(cd "$HERE/crictl" && go build -trimpath \
		-ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION" \
		-o "$out/crictl.tmp" sigs.k8s.io/cri-tools/cmd/crictl)
	mv "$out/crictl.tmp" "$out/crictl"
	stamp_set "crictl-$CRICTL_VERSION" "$h"
	echo "built $out/crictl"
}

# containerd: flags and tags as in containerd's Makefile (the shim adds
# no_grpc); the btrfs snapshotter needs cgo and drops out by itself.
# build_containerd MODULE_DIR GO_PACKAGE VERSION: 2.x for every node, 1.7 for
# the node that runs the schema v2 config.
build_containerd() {
	local dir=$1 pkg=$2 v=$3 out=$HN_CACHE/containerd/$3 h ldflags tarball stage
	tarball=$out/containerd-${v#v}-linux-amd64.tar.gz
	h=$(hash_inputs "$dir/go.mod" "$dir/go.sum" "$(go env GOVERSION)" "$(declare -f build_containerd)")
	if [[ -f $tarball ]] && stamp_ok "containerd-$v" "$h"; then
		echo "cached $tarball"
		return
	fi
	stamp_clear "containerd-$v"
	stage=$out/stage
	rm -rf "$stage"
	mkdir -p "$stage/bin"
	ldflags="-s -w -X $pkg/version.Version=$v -X $pkg/version.Package=$pkg"
	cd "$dir"
	go build -trimpath -tags "urfave_cli_no_docs" -ldflags "$ldflags" \
		-o "$stage/bin/" "$pkg/cmd/containerd" "$pkg/cmd/ctr"
	go build -trimpath -tags "urfave_cli_no_docs no_grpc" -ldflags "$ldflags" \
		-o "$stage/bin/" "$pkg/cmd/containerd-shim-runc-v2"
	"$stage/bin/containerd" --version
	tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - \
		bin | gzip -n >"$tarball.tmp"
	mv "$tarball.tmp" "$tarball"
	rm -rf "$stage"
	stamp_set "containerd-$v" "$h"
	echo "built $tarball"
}
step_containerd() { build_containerd "$HERE/containerd" github.com/containerd/containerd/v2 "$CONTAINERD_VERSION"; }
step_containerd17() { build_containerd "$HERE/containerd17" github.com/containerd/containerd "$CONTAINERD17_VERSION"; }

step_cni() {
	local out=$HN_CACHE/cni-plugins/$CNI_VERSION h tarball
	tarball=$out/cni-plugins-linux-amd64-$CNI_VERSION.tgz
	h=$(hash_inputs "$(dpkg-query -W -f='${Version}' containernetworking-plugins)" /usr/lib/cni/* "$(declare -f step_cni)")
	if [[ -f $tarball ]] && stamp_ok "cni-$CNI_VERSION" "$h"; then
		echo "cached $tarball"
		return
	fi
	mkdir -p "$out"
	tar -C /usr/lib/cni --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - . |
		gzip -n >"$tarball.tmp"
	mv "$tarball.tmp" "$tarball"
	stamp_set "cni-$CNI_VERSION" "$h"
	echo "built $tarball"
}

step_runc() {
	local out=$HN_CACHE/runc/$RUNC_VERSION
	if cmp -s /usr/sbin/runc "$out/runc.amd64"; then
		echo "cached $out/runc.amd64"
		return
	fi
	mkdir -p "$out"
	cp /usr/sbin/runc "$out/runc.amd64.tmp"
	mv "$out/runc.amd64.tmp" "$out/runc.amd64"
	echo "copied /usr/sbin/runc ($(dpkg-query -W -f='${Version}' runc)) to $out/runc.amd64"
}

# The artifact tree (docs/architecture.md, "Artifact layout"): hard links into
# the cache, SHA256SUMS over every file. Rebuilt aside and swapped in whenever
# a source file (device, inode, size, mtime) or this recipe changed.
step_artifacts() {
	local a=$HN_CACHE/artifacts new=$HN_CACHE/artifacts.new h f src
	local -A files=(
		[kubernetes/$K8S_VERSION/bin/linux/amd64/kubelet]=$HN_CACHE/k8s/$K8S_VERSION/kubelet
		[kubernetes/$K8S_VERSION/bin/linux/amd64/kubeadm]=$HN_CACHE/k8s/$K8S_VERSION/kubeadm
		[kubernetes/$K8S_OLD_VERSION/bin/linux/amd64/kubelet]=$HN_CACHE/k8s/$K8S_OLD_VERSION/kubelet
		[kubernetes/$K8S_OLD_VERSION/bin/linux/amd64/kubeadm]=$HN_CACHE/k8s/$K8S_OLD_VERSION/kubeadm
		[cri-tools/$CRICTL_VERSION/bin/linux/amd64/crictl]=$HN_CACHE/crictl/$CRICTL_VERSION/crictl
		[containerd/$CONTAINERD_VERSION/containerd-${CONTAINERD_VERSION#v}-linux-amd64.tar.gz]=$HN_CACHE/containerd/$CONTAINERD_VERSION/containerd-${CONTAINERD_VERSION#v}-linux-amd64.tar.gz
		[containerd/$CONTAINERD17_VERSION/containerd-${CONTAINERD17_VERSION#v}-linux-amd64.tar.gz]=$HN_CACHE/containerd/$CONTAINERD17_VERSION/containerd-${CONTAINERD17_VERSION#v}-linux-amd64.tar.gz
		[runc/$RUNC_VERSION/runc.amd64]=$HN_CACHE/runc/$RUNC_VERSION/runc.amd64
		[cni-plugins/$CNI_VERSION/cni-plugins-linux-amd64-$CNI_VERSION.tgz]=$HN_CACHE/cni-plugins/$CNI_VERSION/cni-plugins-linux-amd64-$CNI_VERSION.tgz
	)
	h=$(hash_inputs "$(for f in "${!files[@]}"; do stat -c "$f %d:%i:%s:%Y" "${files[$f]}"; done | LC_ALL=C sort)" \
		"$(declare -f step_artifacts)")
	if [[ -f $a/SHA256SUMS ]] && stamp_ok artifacts "$h"; then
		echo "unchanged $a"
		return
	fi
	stamp_clear artifacts
	rm -rf "$new"
	for f in "${!files[@]}"; do
		src=${files[$f]}
		mkdir -p "$(dirname "$new/$f")"
		ln -f "$src" "$new/$f" 2>/dev/null || cp -p "$src" "$new/$f"
	done
	(cd "$new" && find . -type f -printf '%P\n' | LC_ALL=C sort | xargs sha256sum >"$HN_CACHE/SHA256SUMS.new")
	mv "$HN_CACHE/SHA256SUMS.new" "$new/SHA256SUMS"
	rm -rf "$a.old"
	[[ ! -e $a ]] || mv "$a" "$a.old"
	mv "$new" "$a"
	rm -rf "$a.old"
	stamp_set artifacts "$h"
	echo "updated $a"
}

# Images: a static Go pause and Debian's busybox-static, written as OCI
# layouts by e2e/images/ci-image (no container engine).
step_images() {
	local img=$REPO/e2e/images tools=$HN_CACHE/tools work=$HN_CACHE/work h
	h=$(hash_inputs "$(go env GOVERSION)" "$img/go.mod" "$img/ci-image/main.go" "$img/pause/main.go" \
		"$PAUSE_REF" "$BUSYBOX_REF" "$(dpkg-query -W -f='${Version}' busybox-static)" /bin/busybox \
		"$(declare -f step_images)")
	if [[ -f $HN_CACHE/images/pause-$PAUSE_VERSION/index.json && -f $HN_CACHE/images/busybox/index.json ]] &&
		stamp_ok images "$h"; then
		echo "cached $HN_CACHE/images"
		return
	fi
	stamp_clear images
	mkdir -p "$tools" "$HN_CACHE/images"
	rm -rf "$work"
	mkdir -p "$work/pause" "$work/busybox"
	(cd "$img" && go build -trimpath -ldflags "-s -w" -o "$tools/ci-image" ./ci-image &&
		go build -trimpath -ldflags "-s -w" -o "$work/pause/pause" ./pause)
	"$tools/ci-image" -rootfs "$work/pause" -out "$HN_CACHE/images/pause-$PAUSE_VERSION" -name "$PAUSE_REF" \
		-entrypoint '["/pause"]' -user 65535:65535

	# busybox: the binary plus a symlink per applet, a minimal /etc.
	local r=$work/busybox a
	mkdir -p "$r/bin" "$r/sbin" "$r/usr/bin" "$r/usr/sbin" "$r/etc" "$r/root" "$r/tmp" "$r/var" \
		"$r/proc" "$r/sys" "$r/dev"
	chmod 1777 "$r/tmp"
	chmod 700 "$r/root"
	install -m 0755 /bin/busybox "$r/bin/busybox"
	while read -r a; do
		[[ -e $r/$a || -L $r/$a ]] || ln -s /bin/busybox "$r/$a"
	done < <(/bin/busybox --list-full)
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$r/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
	"$tools/ci-image" -rootfs "$r" -out "$HN_CACHE/images/busybox" -name "$BUSYBOX_REF" -cmd '["sh"]'
	rm -rf "$work"
	skopeo inspect "oci:$HN_CACHE/images/pause-$PAUSE_VERSION" >/dev/null
	skopeo inspect "oci:$HN_CACHE/images/busybox" >/dev/null
	stamp_set images "$h"
	echo "built $HN_CACHE/images/{pause-$PAUSE_VERSION,busybox}"
}

# Node template root: debootstrap + the packages a bare node has (no
# containerd, no runc: hybridnode installs those). Built under a temporary
# name; complete only once the marker exists.
umount_under() {
	local m
	for m in $(findmnt -rn -o TARGET | grep -F "$1/" | sort -r); do umount -l "$m" || true; done
}
# remove_tree DIR: rm -rf, refusing while anything is mounted below DIR.
remove_tree() {
	umount_under "$1"
	if findmnt -rn -o TARGET | grep -qF "$1/"; then die "still mounted under $1"; fi
	rm -rf "$1"
}
step_rootfs() {
	local dir=$HN_CACHE/rootfs/$ROOTFS_SUITE marker h tmp
	marker=$dir.complete
	tmp=$dir.partial
	h=$(hash_inputs "$ROOTFS_SUITE" "$ROOTFS_INCLUDE" "${ROOTFS_PACKAGES[*]}" "$HN_DEBIAN_MIRROR" "$ROOTFS_RECIPE")
	if [[ -d $dir && -f $marker && $(<"$marker") == "$h" ]]; then
		echo "cached $dir"
		return
	fi
	# Never pull the template from under running nodes (overlay lower dirs).
	if findmnt -rn -t overlay -o OPTIONS | grep -qE "lowerdir=([^,]*:)?$dir(,|:|\$)"; then
		die "$dir needs a rebuild but is the lower dir of overlay mounts (running e2e nodes); stop them first"
	fi
	rm -f "$marker"
	remove_tree "$dir"
	remove_tree "$tmp"
	mkdir -p "$(dirname "$dir")"
	debootstrap --variant=minbase --include="$ROOTFS_INCLUDE" "$ROOTFS_SUITE" "$tmp" "$HN_DEBIAN_MIRROR"

	# Packages: in a chroot, services never started (policy-rc.d), host DNS
	# only for the duration.
	printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
	chmod 0755 "$tmp/usr/sbin/policy-rc.d"
	install -m 0644 /etc/resolv.conf "$tmp/etc/resolv.conf"
	mount -t proc proc "$tmp/proc"
	local rc=0
	chroot "$tmp" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 sh -ec "
		apt-get update
		apt-get install -y --no-install-recommends ${ROOTFS_PACKAGES[*]}" || rc=$?
	umount_under "$tmp"
	((rc == 0)) || return "$rc"
	chroot "$tmp" apt-get clean
	rm -rf "$tmp"/var/lib/apt/lists/* "$tmp"/var/cache/apt/*.bin "$tmp"/var/cache/debconf/*-old \
		"$tmp"/var/log/apt/* "$tmp"/var/log/dpkg.log "$tmp"/var/log/bootstrap.log "$tmp/usr/sbin/policy-rc.d"
	: >"$tmp/etc/resolv.conf"
	echo localhost >"$tmp/etc/hostname"
	mv "$tmp" "$dir"
	echo "$h" >"$marker"
	echo "built $dir ($(du -sh "$dir" | cut -f1))"
}

# ---------------------------------------------------------------- main

[[ $(id -u) == 0 ]] || die "must run as root"
command -v go >/dev/null || die "go not found in PATH"
mkdir -p "$HN_CACHE" "$LOGS"
: >"$TIMINGS"
exec 9>"$HN_CACHE/.prepare.lock"
if ! flock -n 9; then
	log "another prepare.sh holds $HN_CACHE/.prepare.lock; waiting"
	flock 9
fi
trap cleanup EXIT
trap 'exit 130' INT TERM

K8S_VERSION=$(modver "$HERE/k8s" k8s.io/kubernetes)
K8S_OLD_VERSION=$(modver "$HERE/k8s134" k8s.io/kubernetes)
CRICTL_VERSION=$(modver "$HERE/crictl" sigs.k8s.io/cri-tools)
CONTAINERD_VERSION=$(modver "$HERE/containerd" github.com/containerd/containerd/v2)
CONTAINERD17_VERSION=$(modver "$HERE/containerd17" github.com/containerd/containerd)
[[ -n $K8S_VERSION && -n $K8S_OLD_VERSION && -n $CRICTL_VERSION && -n $CONTAINERD_VERSION && -n $CONTAINERD17_VERSION ]] || die "cannot read versions from e2e/build/*/go.mod"

step packages step_packages
RUNC_VERSION=$(debver runc)
CNI_VERSION=$(debver containernetworking-plugins)

# Long steps first, in the background: the Kubernetes build is CPU bound
# (~11 min cold on 2 cores), debootstrap mostly waits on the network.
bg_step k8s step_k8s
if [[ $HN_SKIP_ROOTFS != 1 ]]; then bg_step rootfs step_rootfs; fi
step crictl step_crictl
bg_check
step containerd step_containerd
bg_check
step containerd17 step_containerd17
bg_check
step cni step_cni
bg_check
step runc step_runc
bg_check
step images step_images
bg_check
bg_wait k8s
# After the big build, not beside it: two Kubernetes builds at once on two
# cores only thrash the build cache's memory.
step k8s-old step_k8s_old
step artifacts step_artifacts
if [[ $HN_SKIP_ROOTFS != 1 ]]; then bg_wait rootfs; fi

# ---------------------------------------------------------------- summary

A=$HN_CACHE/artifacts
cat >"$HN_CACHE/prepare.env.tmp" <<EOF
# Written by e2e/build/prepare.sh; source it.
HN_CACHE=$HN_CACHE
HN_K8S_VERSION=$K8S_VERSION
HN_K8S_BIN=$HN_CACHE/k8s/$K8S_VERSION
HN_K8S_OLD_VERSION=$K8S_OLD_VERSION
HN_CRICTL_VERSION=$CRICTL_VERSION
HN_CONTAINERD_VERSION=$CONTAINERD_VERSION
HN_CONTAINERD17_VERSION=$CONTAINERD17_VERSION
HN_RUNC_VERSION=$RUNC_VERSION
HN_CNI_PLUGINS_VERSION=$CNI_VERSION
HN_ARTIFACTS=$A
HN_ROOTFS=$(if [[ $HN_SKIP_ROOTFS != 1 ]]; then echo "$HN_CACHE/rootfs/$ROOTFS_SUITE"; fi)
HN_IMAGE_PAUSE_DIR=$HN_CACHE/images/pause-$PAUSE_VERSION
HN_IMAGE_PAUSE_REF=$PAUSE_REF
HN_IMAGE_BUSYBOX_DIR=$HN_CACHE/images/busybox
HN_IMAGE_BUSYBOX_REF=$BUSYBOX_REF
EOF
mv "$HN_CACHE/prepare.env.tmp" "$HN_CACHE/prepare.env"

TOTAL=$(elapsed "$T0")
{
	echo
	echo "== hybridnode e2e prepare: done in ${TOTAL}s"
	echo "-- Kubernetes $K8S_VERSION binaries: $HN_CACHE/k8s/$K8S_VERSION/{$(
		IFS=,
		echo "${K8S_NAMES[*]}"
	)}"
	echo "-- artifact tree (serve it over HTTP, or use it as a local artifactURL): $A"
	(cd "$A" && sed 's/^/     /' SHA256SUMS)
	echo "   hybridnode: HYBRIDNODE_KUBERNETES_VERSION=$K8S_VERSION HYBRIDNODE_CONTAINERD_VERSION=$CONTAINERD_VERSION"
	echo "               HYBRIDNODE_RUNC_VERSION=$RUNC_VERSION HYBRIDNODE_CRICTL_VERSION=$CRICTL_VERSION HYBRIDNODE_CNI_PLUGINS_VERSION=$CNI_VERSION"
	echo "-- images (OCI layouts):"
	echo "     $PAUSE_REF      oci:$HN_CACHE/images/pause-$PAUSE_VERSION:$PAUSE_VERSION"
	echo "     $BUSYBOX_REF     oci:$HN_CACHE/images/busybox:${BUSYBOX_REF##*:}"
	echo "   push: skopeo copy --dest-tls-verify=false oci:<dir>:<tag> docker://<registry host:port>/<repository>:<tag>"
	echo "         (e.g. .../pause:$PAUSE_VERSION, then mirror registry.k8s.io -> http://<registry> in certs.d)"
	if [[ $HN_SKIP_ROOTFS != 1 ]]; then
		echo "-- node template root: $HN_CACHE/rootfs/$ROOTFS_SUITE (marker $HN_CACHE/rootfs/$ROOTFS_SUITE.complete)"
	fi
	echo "-- paths and versions for the harness: $HN_CACHE/prepare.env"
	echo "-- step timings (logs in $LOGS):"
	sed 's/^/     /' "$TIMINGS"
	echo "-- disk: $(du -sh "$HN_CACHE" 2>/dev/null | cut -f1) in $HN_CACHE; Go build cache $(du -sh "$(go env GOCACHE)" 2>/dev/null | cut -f1), module cache $(du -sh "$(go env GOMODCACHE)" 2>/dev/null | cut -f1)"
}
