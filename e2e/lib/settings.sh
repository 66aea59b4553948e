# shellcheck shell=bash
# shellcheck disable=SC2034 # settings: read by the other files
# e2e/lib/settings.sh: where the harness finds its inputs (prepare.sh's
# $HN_CACHE) and keeps its state, the test LAN's addresses and ports, and the
# host-wide sysctls a node changes. Sourced first.

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(cd "$E2E_DIR/.." && pwd)

HN_CACHE=${HN_CACHE:-/var/cache/hybridnode-e2e}
# penv KEY DEFAULT: KEY from e2e/build/prepare.sh's $HN_CACHE/prepare.env, else DEFAULT
penv() {
	local v=
	[[ -f $HN_CACHE/prepare.env ]] && v=$(sed -n "s/^$1=//p" "$HN_CACHE/prepare.env")
	echo "${v:-$2}"
}
K8S_VERSION=$(penv HN_K8S_VERSION v1.37.1)
K8S_BIN=$(penv HN_K8S_BIN "$HN_CACHE/k8s/$K8S_VERSION")
ARTIFACTS=$(penv HN_ARTIFACTS "$HN_CACHE/artifacts")
TEMPLATE=$(penv HN_ROOTFS "$HN_CACHE/rootfs/bookworm")
CONTAINERD_VERSION=$(penv HN_CONTAINERD_VERSION v2.2.0)
# shellcheck disable=SC2034 # cases/containerd17.sh
CONTAINERD17_VERSION=$(penv HN_CONTAINERD17_VERSION v1.7.35)
# shellcheck disable=SC2034 # cases/skew.sh
K8S_OLD_VERSION=$(penv HN_K8S_OLD_VERSION v1.34.4)
RUNC_VERSION=$(penv HN_RUNC_VERSION v1.1.5)
CRICTL_VERSION=$(penv HN_CRICTL_VERSION v1.37.0)
CNI_VERSION=$(penv HN_CNI_PLUGINS_VERSION v1.1.1)
PAUSE_DIR=$(penv HN_IMAGE_PAUSE_DIR "$HN_CACHE/images/pause-3.10.2")
SANDBOX_IMAGE=$(penv HN_IMAGE_PAUSE_REF registry.k8s.io/pause:3.10.2)  # what kubeadm v1.37 expects
BUSYBOX_DIR=$(penv HN_IMAGE_BUSYBOX_DIR "$HN_CACHE/images/busybox")
BUSYBOX_IMAGE=$(penv HN_IMAGE_BUSYBOX_REF hybridnode.local/busybox:1)  # pulled through the mirror

STATE_ROOT=${HN_E2E_STATE:-/var/lib/hybridnode-e2e}
RUN=$STATE_ROOT/run
LOGS_ROOT=$STATE_ROOT/logs

NETNS=hn-e2e
BRIDGE=hnbr0
LAN=10.77.0
GW=$LAN.1
POD_PREFIX=10.244          # node 10.77.0.X gets pod subnet 10.244.X.0/24
ART_PORT=8080
REG_PORT=5000
DIST_PORT=8081             # `make release` dist/ (add-node.sh, binaries, packages): the addNodeScriptPath server
MD_PORT=8082               # fake ECS instance metadata service (static files)
API=$GW:6443

NODE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Host-wide sysctls that a kubelet inside a node changes (the kernel is shared).
# (hybridnode's sysctl.d keys are per network namespace on this kernel; saved anyway.)
HOST_SYSCTLS="vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys
 kernel.keys.root_maxbytes net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables net.ipv4.ip_forward
 fs.inotify.max_user_instances fs.inotify.max_user_watches"
# Every node's systemd, containerd and kubelet take inotify instances from one
# per-user budget (all nodes run as the host's root): 128 by default, which
# nine nodes exhaust ("inotify_init: too many open files", kubelet exits).
# Raised for the run (never lowered), restored at teardown.
NODE_INOTIFY_INSTANCES=8192 NODE_INOTIFY_WATCHES=1048576
