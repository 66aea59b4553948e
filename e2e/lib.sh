# shellcheck shell=bash
# e2e/lib.sh: building blocks of the hybridnode real-cluster harness.
# Sourced by e2e/run.sh. Every wait is bounded; every resource lives under
# $RUN or in the network namespace $NETNS so that teardown can find it again.
#
# Network rule: the root namespace only ever addresses loopback. The test LAN
# ($LAN.0/24) exists only inside $NETNS; the control plane, the artifact
# server, the registry, kubectl and systemd-nspawn all run inside it.

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
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
# shellcheck disable=SC2034 # cases/hosts.sh
CONTAINERD17_VERSION=$(penv HN_CONTAINERD17_VERSION v1.7.35)
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

# ---------------------------------------------------------------- basics

log() { printf '%s [e2e] %s\n' "$(date +%T.%3N)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
now() { echo "$EPOCHREALTIME"; }
# elapsed START [END]: seconds with one decimal
elapsed() { awk -v a="$1" -v b="${2:-$EPOCHREALTIME}" 'BEGIN{printf "%.1f", b-a}'; }

# wait_for DESC TIMEOUT_S CMD...: poll CMD every 0.25 s until it succeeds.
wait_for() {
	local desc=$1 timeout=$2; shift 2
	local deadline=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			log "timed out after ${timeout}s waiting for: $desc"
			return 1
		fi
		sleep 0.25
	done
}

nsx() { ip netns exec "$NETNS" "$@"; }
kc() { nsx "$K8S_BIN/kubectl" --kubeconfig "$RUN/cp/admin.conf" --request-timeout=20s "$@"; }
kadm() { nsx "$K8S_BIN/kubeadm" "$@"; }

# alive PID: running (a zombie waiting to be reaped counts as gone)
alive() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[[ ${st%% *} != Z ]]
}
# pid_is PID NAME: PID is alive and its command name is NAME (guards against reuse).
pid_is() { [[ -n $1 ]] && alive "$1" && [[ $(cat "/proc/$1/comm" 2>/dev/null) == "$2"* ]]; }

# start_daemon NAME CMD...: run CMD inside $NETNS in its own session,
# output to $RUN/logs/NAME.log, pid to $RUN/pids/NAME.
start_daemon() {
	local name=$1; shift
	mkdir -p "$RUN/logs" "$RUN/pids"
	setsid ip netns exec "$NETNS" "$@" >"$RUN/logs/$name.log" 2>&1 </dev/null 5>&- 6>&- 8>&- &
	echo $! >"$RUN/pids/$name"
	disown $!   # stopped by stop_daemons, never waited for
}

# stop_daemon NAME: one daemon of start_daemon, TERM then KILL (bounded)
stop_daemon() {
	local pid i=0
	[[ -f $RUN/pids/$1 ]] || return 0
	pid=$(cat "$RUN/pids/$1")
	kill -TERM "$pid" 2>/dev/null || return 0
	while alive "$pid" && ((i++ < 30)); do sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------- prerequisites

check_prereqs() {
	local missing=()
	for f in kubeadm kubelet kube-apiserver kube-controller-manager kube-scheduler kubectl; do
		[[ -x $K8S_BIN/$f ]] || missing+=("$K8S_BIN/$f")
	done
	[[ -f $ARTIFACTS/SHA256SUMS ]] || missing+=("$ARTIFACTS/SHA256SUMS")
	[[ -f $PAUSE_DIR/index.json ]] || missing+=("$PAUSE_DIR (OCI layout)")
	[[ -f $BUSYBOX_DIR/index.json ]] || missing+=("$BUSYBOX_DIR (OCI layout)")
	[[ -x $TEMPLATE/lib/systemd/systemd && -f $TEMPLATE.complete ]] || missing+=("$TEMPLATE (node template rootfs, with $TEMPLATE.complete)")
	for c in systemd-nspawn etcd skopeo docker-registry busybox openssl jq nsenter; do
		command -v "$c" >/dev/null || missing+=("command $c")
	done
	if ((${#missing[@]})); then
		log "missing prerequisites (run e2e/build/prepare.sh first):"
		printf '  %s\n' "${missing[@]}" >&2
		return 1
	fi
}

# build_hybridnode: static binary into $RUN/hybridnode (HN_BIN), or the
# given HN_E2E_BINARY.
build_hybridnode() {
	HN_BIN=$RUN/hybridnode
	if [[ -n ${HN_E2E_BINARY:-} ]]; then
		cp "$HN_E2E_BINARY" "$HN_BIN"; return 0
	fi
	log "building hybridnode (CGO_ENABLED=0)"
	if ! (cd "$REPO_DIR" && CGO_ENABLED=0 go build -o "$RUN/hybridnode" ./cmd/hybridnode) >"$RUN/logs/go-build.log" 2>&1; then
		cat "$RUN/logs/go-build.log" >&2
		die "go build ./cmd/hybridnode failed"
	fi
}

# ---------------------------------------------------------------- host sysctls

# save_host_sysctls: record them once per run, then raise the inotify budget.
save_host_sysctls() {
	local k kv
	if [[ ! -f $RUN/host-sysctls ]]; then
		for k in $HOST_SYSCTLS; do
			[[ -e /proc/sys/${k//.//} ]] && echo "$k=$(sysctl -n "$k")"
		done >"$RUN/host-sysctls"
	fi
	for kv in "fs.inotify.max_user_instances=$NODE_INOTIFY_INSTANCES" "fs.inotify.max_user_watches=$NODE_INOTIFY_WATCHES"; do
		if (($(sysctl -n "${kv%%=*}") < ${kv#*=})); then sysctl -qw "$kv"; fi
	done
}

restore_host_sysctls() {
	[[ -f $RUN/host-sysctls ]] || return 0
	local kv k v
	while IFS= read -r kv; do
		k=${kv%%=*} v=${kv#*=}
		if [[ $(sysctl -n "$k" 2>/dev/null) != "$v" ]]; then
			log "restoring host sysctl $k=$v (was $(sysctl -n "$k"))"
			sysctl -qw "$k=$v" || log "WARN: could not restore $k"
		fi
	done <"$RUN/host-sysctls"
}

# ---------------------------------------------------------------- test LAN

setup_netns() {
	log "creating network namespace $NETNS with bridge $BRIDGE $GW/24"
	ip netns add "$NETNS"
	ip -n "$NETNS" link set lo up
	ip -n "$NETNS" link add "$BRIDGE" type bridge
	ip -n "$NETNS" addr add "$GW/24" dev "$BRIDGE"
	ip -n "$NETNS" link set "$BRIDGE" up
	nsx sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || true
}

# ---------------------------------------------------------------- control plane

write_kubeadm_config() {
	mkdir -p "$RUN/cp"
	cat >"$RUN/cp/kubeadm.yaml" <<EOF
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: $GW
  bindPort: 6443
nodeRegistration:
  name: hn-e2e-control-plane
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: $K8S_VERSION
clusterName: kubernetes
controlPlaneEndpoint: $API
certificatesDir: $RUN/cp/pki
networking:
  serviceSubnet: 10.96.0.0/16
  podSubnet: $POD_PREFIX.0.0/16
  dnsDomain: cluster.local
etcd:
  local:
    dataDir: $RUN/cp/etcd
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
failCgroupV1: false
authentication:
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
EOF
}

# start_apiserver: kube-apiserver on $API (also how a scenario restarts it),
# then wait for /readyz.
start_apiserver() {
	local cp=$RUN/cp pki=$RUN/cp/pki
	start_daemon kube-apiserver "$K8S_BIN/kube-apiserver" \
		--advertise-address="$GW" --bind-address="$GW" --secure-port=6443 \
		--allow-privileged=true --authorization-mode=Node,RBAC \
		--client-ca-file="$pki/ca.crt" --enable-admission-plugins=NodeRestriction \
		--enable-bootstrap-token-auth=true \
		--etcd-servers=https://127.0.0.1:2379 --etcd-cafile="$pki/etcd/ca.crt" \
		--etcd-certfile="$pki/apiserver-etcd-client.crt" --etcd-keyfile="$pki/apiserver-etcd-client.key" \
		--kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" \
		--kubelet-client-key="$pki/apiserver-kubelet-client.key" \
		--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname \
		--proxy-client-cert-file="$pki/front-proxy-client.crt" --proxy-client-key-file="$pki/front-proxy-client.key" \
		--requestheader-allowed-names=front-proxy-client --requestheader-client-ca-file="$pki/front-proxy-ca.crt" \
		--requestheader-extra-headers-prefix=X-Remote-Extra- --requestheader-group-headers=X-Remote-Group \
		--requestheader-username-headers=X-Remote-User \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
		--service-cluster-ip-range=10.96.0.0/16 \
		--tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key"
	wait_for "kube-apiserver /readyz" 60 nsx "$K8S_BIN/kubectl" --kubeconfig "$cp/super-admin.conf" get --raw /readyz ||
		{ tail -30 "$RUN/logs/kube-apiserver.log" >&2; return 1; }
}

# start_controller_manager: kube-controller-manager with the bootstrap signer
# and the token cleaner (also how a case restarts it)
start_controller_manager() {
	local cp=$RUN/cp pki=$RUN/cp/pki
	start_daemon kube-controller-manager "$K8S_BIN/kube-controller-manager" \
		--kubeconfig="$cp/controller-manager.conf" \
		--authentication-kubeconfig="$cp/controller-manager.conf" --authorization-kubeconfig="$cp/controller-manager.conf" \
		--bind-address=127.0.0.1 --leader-elect=false --cluster-name=kubernetes \
		--client-ca-file="$pki/ca.crt" --requestheader-client-ca-file="$pki/front-proxy-ca.crt" \
		--root-ca-file="$pki/ca.crt" --service-account-private-key-file="$pki/sa.key" \
		--cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
		--controllers='*,bootstrapsigner,tokencleaner' --use-service-account-credentials=true \
		--flex-volume-plugin-dir="$cp/flexvolume"
}

start_control_plane() {
	local t0=$EPOCHREALTIME cp=$RUN/cp pki=$RUN/cp/pki
	write_kubeadm_config
	log "control plane: kubeadm init phase certs/kubeconfig"
	kadm init phase certs all --config "$cp/kubeadm.yaml" >"$RUN/logs/kubeadm-init.log" 2>&1
	local k
	for k in admin super-admin controller-manager scheduler; do
		kadm init phase kubeconfig "$k" --config "$cp/kubeadm.yaml" --kubeconfig-dir "$cp" >>"$RUN/logs/kubeadm-init.log" 2>&1
	done

	log "control plane: etcd"
	start_daemon etcd etcd --name hn-e2e-cp --data-dir "$cp/etcd" \
		--listen-client-urls https://127.0.0.1:2379 --advertise-client-urls https://127.0.0.1:2379 \
		--listen-peer-urls https://127.0.0.1:2380 --initial-advertise-peer-urls https://127.0.0.1:2380 \
		--initial-cluster hn-e2e-cp=https://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381 \
		--cert-file "$pki/etcd/server.crt" --key-file "$pki/etcd/server.key" \
		--trusted-ca-file "$pki/etcd/ca.crt" --client-cert-auth \
		--peer-cert-file "$pki/etcd/peer.crt" --peer-key-file "$pki/etcd/peer.key" \
		--peer-trusted-ca-file "$pki/etcd/ca.crt" --peer-client-cert-auth \
		--snapshot-count 10000
	wait_for "etcd health" 30 nsx curl -sf http://127.0.0.1:2381/health || { tail -20 "$RUN/logs/etcd.log" >&2; return 1; }

	log "control plane: kube-apiserver"
	start_apiserver || return 1

	log "control plane: RBAC, upload-config, bootstrap-token"
	{
		# what a real `kubeadm init` creates and `init phase` does not: admin.conf's group binding
		nsx "$K8S_BIN/kubectl" --kubeconfig "$cp/super-admin.conf" create clusterrolebinding kubeadm:cluster-admins \
			--clusterrole=cluster-admin --group=kubeadm:cluster-admins
		kadm init phase upload-config all --config "$cp/kubeadm.yaml" --kubeconfig "$cp/admin.conf"
		kadm init phase bootstrap-token --config "$cp/kubeadm.yaml" --kubeconfig "$cp/admin.conf"
	} >>"$RUN/logs/kubeadm-init.log" 2>&1

	log "control plane: kube-controller-manager, kube-scheduler"
	mkdir -p "$cp/flexvolume"
	start_controller_manager
	start_daemon kube-scheduler "$K8S_BIN/kube-scheduler" \
		--kubeconfig="$cp/scheduler.conf" \
		--authentication-kubeconfig="$cp/scheduler.conf" --authorization-kubeconfig="$cp/scheduler.conf" \
		--bind-address=127.0.0.1 --leader-elect=false

	log "control plane: bootstrap token (TTL 2h) and CA hash"
	# The token goes from kubeadm's stdout straight into a 0600 file: it never
	# appears in a command line of this harness.
	(umask 077; kadm token create --ttl 2h --kubeconfig "$cp/admin.conf" >"$RUN/token" 2>>"$RUN/logs/kubeadm-init.log")
	[[ $(wc -l <"$RUN/token") == 1 ]] || die "kubeadm token create printed no token"
	# pattern file for leak checks: the token's secret half
	(umask 077; cut -d. -f2 "$RUN/token" >"$RUN/token.secret")
	CA_HASH=sha256:$(openssl x509 -pubkey -noout -in "$pki/ca.crt" | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1)
	echo "$CA_HASH" >"$RUN/ca-hash"
	local tokid; tokid=$(cut -d. -f1 "$RUN/token")
	wait_for "cluster-info signed for token $tokid" 60 cluster_info_signed "$tokid" ||
		{ tail -30 "$RUN/logs/kube-controller-manager.log" >&2; return 1; }
	wait_for "default ServiceAccount" 60 kc -n default get serviceaccount default
	log "control plane ready in $(elapsed "$t0")s (CA hash $CA_HASH)"
}

cluster_info_signed() {
	kc -n kube-public get configmap cluster-info -o json | jq -e --arg k "jws-kubeconfig-$1" '.data[$k] != null'
}

# ---------------------------------------------------------------- artifact server and registry

start_servers() {
	log "artifact server http://$GW:$ART_PORT/ (busybox httpd over $ARTIFACTS)"
	start_daemon artifacts busybox httpd -f -vv -p "$GW:$ART_PORT" -h "$ARTIFACTS"
	mkdir -p "$RUN/registry"
	cat >"$RUN/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $RUN/registry
http:
  addr: $GW:$REG_PORT
EOF
	log "registry http://$GW:$REG_PORT (docker-registry)"
	start_daemon registry docker-registry serve "$RUN/registry.yml"
	wait_for "artifact server" 20 nsx curl -sf -o /dev/null "http://$GW:$ART_PORT/SHA256SUMS"
	wait_for "registry" 20 nsx curl -sf -o /dev/null "http://$GW:$REG_PORT/v2/"
	log "pushing images to the registry"
	# registry.k8s.io/pause:3.10.2 -> $GW:$REG_PORT/pause:3.10.2, the path the mirrors resolve to
	push_image "$PAUSE_DIR" "$SANDBOX_IMAGE"
	push_image "$BUSYBOX_DIR" "$BUSYBOX_IMAGE"
}

# push_image OCI_DIR REF: REF's repository path and tag, minus the registry host
push_image() {
	local path=${2#*/}
	nsx skopeo --insecure-policy copy -q --dest-tls-verify=false \
		"oci:$1:${path##*:}" "docker://$GW:$REG_PORT/$path" >>"$RUN/logs/skopeo.log" 2>&1
}

# ---------------------------------------------------------------- nodes
#
# Node state lives in $RUN/nodes/NAME: upper/ work/ (overlay), root/ (mount
# point), containerd/ (host dir bound to /var/lib/containerd), cgroups (list
# of per-node cgroup dirs), nspawn.pid, leader.pid, ip, console.log.

node_dir() { echo "$RUN/nodes/$1"; }
node_leader() { cat "$(node_dir "$1")/leader.pid"; }
# in_node NAME CMD...: run CMD inside the node, with a clean environment.
in_node() {
	local n=$1; shift
	nsenter -t "$(node_leader "$n")" -a env -i PATH="$NODE_PATH" HOME=/root LANG=C.UTF-8 "$@"
}
in_node_exec() {
	local n=$1; shift
	exec nsenter -t "$(node_leader "$n")" -a env -i PATH="$NODE_PATH" HOME=/root LANG=C.UTF-8 "$@"
}

# prepare_node_root NAME IP: overlay over the template plus the files the
# node needs to boot on the test LAN.
prepare_node_root() {
	local n=$1 ip=$2 d; d=$(node_dir "$1")
	mkdir -p "$d"/{upper,work,root,containerd}
	echo "$ip" >"$d/ip"
	mount -t overlay overlay -o "lowerdir=$TEMPLATE,upperdir=$d/upper,workdir=$d/work" "$d/root"
	local r=$d/root

	# INIT wrapper: the per-controller cgroup hierarchies come in read-only
	# (bind mounts of the node's subtree); kubelet and containerd need to
	# create cgroups there. A plain remount,rw is refused ("busy").
	cat >"$r/hn-init" <<'EOF'
#!/bin/sh
for c in /sys/fs/cgroup/*/; do
	mount -o remount,bind,rw "$c" 2>/dev/null || echo "hn-init: cannot remount $c read-write" >&2
done
exec /lib/systemd/systemd "$@"
EOF
	chmod 0755 "$r/hn-init"

	# Static address on host0 (systemd-networkd leaves it pending), default
	# route via the bridge, ip_forward in the node's own network namespace.
	cat >"$r/etc/systemd/system/hn-e2e-net.service" <<EOF
[Unit]
Description=hn-e2e test LAN address on host0
Before=network.target network-online.target
Wants=network.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/sbin/ip link set lo up
ExecStart=/sbin/ip link set host0 up
ExecStart=/sbin/ip addr replace $ip/24 dev host0
ExecStart=/sbin/ip route replace default via $GW
ExecStart=/bin/sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'

[Install]
WantedBy=multi-user.target network-online.target
EOF
	mkdir -p "$r/etc/systemd/system/multi-user.target.wants" "$r/etc/systemd/system/network-online.target.wants"
	ln -sf ../hn-e2e-net.service "$r/etc/systemd/system/multi-user.target.wants/hn-e2e-net.service"
	ln -sf ../hn-e2e-net.service "$r/etc/systemd/system/network-online.target.wants/hn-e2e-net.service"
	# bound the node's shutdown (the default is 90 s per unit that ignores SIGTERM)
	mkdir -p "$r/etc/systemd/system.conf.d"
	printf '[Manager]\nDefaultTimeoutStopSec=10s\n' >"$r/etc/systemd/system.conf.d/hn-e2e.conf"
	ln -sf /dev/null "$r/etc/systemd/system/systemd-networkd.service"
	ln -sf /dev/null "$r/etc/systemd/system/systemd-networkd-wait-online.service"

	systemd-id128 new >"$r/etc/machine-id"
	echo "$n" >"$r/etc/hostname"   # systemd sets the hostname from it, over nspawn's --hostname
	printf '127.0.0.1\tlocalhost\n%s\t%s\n' "$ip" "$n" >"$r/etc/hosts"
	mkdir -p "$r/var/lib/containerd" "$r/var/log/acs"
	if [[ ${N_OS[$n]:-} == alinux3 ]]; then alinux_root "$r"; fi
}

# make_node_cgroups NAME: <own>/nodebox/NAME in every cgroup v1 hierarchy
# (and the unified one), cpuset cpus/mems copied from the parents.
make_node_cgroups() {
	local n=$1 d line hier rel dir
	d=$(node_dir "$n")
	: >"$d/cgroups"
	while IFS= read -r line; do
		hier=${line#*:}; hier=${hier%%:*}; rel=${line#*:*:}
		case $hier in
		"") dir=/sys/fs/cgroup/unified ;;
		name=systemd) dir=/sys/fs/cgroup/systemd ;;
		*) dir=/sys/fs/cgroup/${hier%%,*} ;;
		esac
		[[ -d $dir ]] || continue
		local base=$dir${rel%/}/nodebox
		mkdir -p "$base/$n"
		if [[ $hier == cpuset ]]; then
			local p=$dir${rel%/}
			cat "$p/cpuset.cpus" >"$base/cpuset.cpus"; cat "$p/cpuset.mems" >"$base/cpuset.mems"
			cat "$p/cpuset.cpus" >"$base/$n/cpuset.cpus"; cat "$p/cpuset.mems" >"$base/$n/cpuset.mems"
		fi
		echo "$base/$n" >>"$d/cgroups"
	done </proc/self/cgroup
}

# boot_node NAME IP: start systemd-nspawn (inside $NETNS) and wait for the
# leader to appear. Use wait_node_running afterwards.
boot_node() {
	local n=$1 ip=$2
	prepare_node_root "$n" "$ip"
	make_node_cgroups "$n"
	start_nspawn "$n"
}

# start_nspawn NAME: systemd-nspawn over the node's prepared root, in its cgroups.
start_nspawn() {
	local n=$1 d; d=$(node_dir "$1")
	rm -f "$d/leader.pid"
	echo "$EPOCHREALTIME" >"$d/boot.start"
	(
		while IFS= read -r cg; do echo "$BASHPID" >"$cg/cgroup.procs"; done <"$d/cgroups"
		# own session: a Ctrl-C or a signal to the harness's process group must
		# not reach nspawn; teardown stops the nodes in order
		exec setsid nsenter --net="/run/netns/$NETNS" env SYSTEMD_NSPAWN_API_VFS_WRITABLE=1 \
			systemd-nspawn -D "$d/root" -M "$n" --hostname="$n" \
			--register=no --keep-unit --console=read-only --kill-signal=SIGRTMIN+3 \
			--network-bridge="$BRIDGE" --capability=all --system-call-filter='@keyring bpf' \
			--bind="$d/containerd:/var/lib/containerd" --bind=/dev/kmsg --resolv-conf=off \
			/hn-init
	) >>"$d/console.log" 2>&1 </dev/null 5>&- 6>&- 8>&- &
	echo $! >"$d/nspawn.pid"
	disown $!   # stopped by stop_nodes, never waited for
}

# reboot_node NAME: power the node off (SIGTERM to nspawn: systemd halts;
# SIGKILL after 30 s) and boot it again from the same root, as an instance
# made from an image boots: same disk, new boot. Use wait_node_running after.
reboot_node() {
	local n=$1 d pid t=$EPOCHREALTIME cg; d=$(node_dir "$1")
	pid=$(cat "$d/nspawn.pid")
	if pid_is "$pid" systemd-nspawn; then
		kill -TERM "$pid"
		local deadline=$((SECONDS + 30))
		while pid_is "$pid" systemd-nspawn && ((SECONDS < deadline)); do sleep 0.1; done
		if pid_is "$pid" systemd-nspawn; then
			log "node $n did not power off in 30s: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			if [[ -f $d/leader.pid ]]; then kill -KILL "$(cat "$d/leader.pid")" 2>/dev/null || true; fi
			sleep 0.5
		fi
	fi
	log "node $n powered off in $(elapsed "$t")s; booting it again"
	# the cgroups the node's systemd left behind (empty now)
	while IFS= read -r cg; do
		if [[ -d $cg ]]; then find "$cg" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null || true; fi
	done <"$d/cgroups"
	start_nspawn "$n"
}

# find_leader NAME: the node's PID 1 (systemd) seen from the host: the process
# in the node's cgroups whose innermost pid is 1.
find_leader() {
	local n=$1 d pid cg; d=$(node_dir "$n")
	pid_is "$(cat "$d/nspawn.pid")" systemd-nspawn || return 1
	cg=$(head -1 "$d/cgroups")
	while read -r pid; do
		if grep -qE '^NSpid:.*[[:space:]]1$' "/proc/$pid/status" 2>/dev/null &&
			[[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */systemd ]]; then
			echo "$pid" >"$d/leader.pid"; return 0
		fi
	done < <(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null)
	return 1
}

node_running() {
	local s; s=$(in_node "$1" systemctl is-system-running 2>/dev/null) || true
	[[ $s == running || $s == degraded ]]
}

wait_node_running() {
	local n=$1 d; d=$(node_dir "$1")
	if ! wait_for "node $n leader (systemd)" 30 find_leader "$n" ||
		! wait_for "node $n systemd running" 90 node_running "$n" ||
		! wait_for "node $n address" 20 in_node "$n" ip -4 route show default; then
		tail -30 "$d/console.log" >&2
		return 1
	fi
	local failed; failed=$(in_node "$n" systemctl --failed --no-legend --plain | awk '{print $1}' | xargs)
	log "node $n up in $(elapsed "$(cat "$d/boot.start")")s (leader pid $(node_leader "$n"), $(cat "$d/ip"))${failed:+, failed units: $failed}"
}

# stop_nodes: SIGTERM every nspawn at once, then SIGKILL what remains.
stop_nodes() {
	local d pid pids=() n
	for d in "$RUN"/nodes/*/; do
		[[ -f $d/nspawn.pid ]] || continue
		pid=$(cat "$d/nspawn.pid")
		if pid_is "$pid" systemd-nspawn; then kill -TERM "$pid" 2>/dev/null && pids+=("$pid"); fi
	done
	if ((${#pids[@]})); then
		log "stopping ${#pids[@]} node(s)"
		local deadline=$((SECONDS + 30)) t=$EPOCHREALTIME
		for pid in "${pids[@]}"; do
			while pid_is "$pid" systemd-nspawn && ((SECONDS < deadline)); do sleep 0.2; done
		done
		log "nodes stopped after $(elapsed "$t")s"
	fi
	for d in "$RUN"/nodes/*/; do
		n=$(basename "$d")
		if [[ -f $d/leader.pid ]] && pid_is "$(cat "$d/leader.pid")" systemd; then
			log "node $n did not halt in time; its pending jobs:"
			timeout 5 nsenter -t "$(cat "$d/leader.pid")" -a systemctl list-jobs --no-pager >&2 || true
		fi
		for f in leader.pid nspawn.pid; do
			[[ -f $d/$f ]] || continue
			pid=$(cat "$d/$f")
			if pid_is "$pid" systemd || pid_is "$pid" systemd-nspawn || pid_is "$pid" hn-init; then
				log "node $n: SIGKILL $f $pid"
				kill -KILL "$pid" 2>/dev/null || true
			fi
		done
	done
	# anything still in a node's cgroups (a shim, say) is ours: kill it by id
	local procs
	for d in "$RUN"/nodes/*/; do
		[[ -f $d/cgroups ]] || continue
		procs=$(while IFS= read -r cg; do [[ -d $cg ]] && find "$cg" -name cgroup.procs -exec cat {} +; done <"$d/cgroups" 2>/dev/null | sort -u | xargs)
		if [[ -n $procs ]]; then
			log "node $(basename "$d"): killing leftover processes $(for p in $procs; do printf '%s(%s) ' "$p" "$(cat "/proc/$p/comm" 2>/dev/null)"; done)"
			# shellcheck disable=SC2086 # a list of pids
			kill -KILL $procs 2>/dev/null || true
		fi
	done
	sleep 0.3
}

remove_node_cgroups() {
	local d cg
	for d in "$RUN"/nodes/*/; do
		[[ -f $d/cgroups ]] || continue
		while IFS= read -r cg; do
			[[ -d $cg ]] || continue
			find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
			[[ -d $cg ]] && log "WARN: could not remove cgroup $cg"
			rmdir "$(dirname "$cg")" 2>/dev/null || true   # nodebox, when empty
		done <"$d/cgroups"
	done
}

# ---------------------------------------------------------------- teardown

# stop_daemons: what start_daemon started, clients before servers (the node
# watch, scheduler and controller-manager before the API server, etcd after
# it), then anything else left in $NETNS.
DAEMON_STOP_ORDER="node-watch slow-artifacts token-service-0 token-service-1 imds kube-scheduler kube-controller-manager kube-apiserver etcd registry artifacts dist metadata"
stop_daemons() {
	local pid name deadline
	for name in $DAEMON_STOP_ORDER; do
		[[ -f $RUN/pids/$name ]] || continue
		pid=$(cat "$RUN/pids/$name")
		# the pid must still be a process that we started inside $NETNS
		ip netns identify "$pid" 2>/dev/null | grep -qx "$NETNS" || continue
		kill -TERM "$pid" 2>/dev/null || continue
		local t=$EPOCHREALTIME
		deadline=$((SECONDS + 3))
		while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
		if alive "$pid"; then
			log "$name ($pid) still running 3s after SIGTERM: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		else
			log "stopped $name in $(elapsed "$t")s"
		fi
	done
	local left
	left=$(ip netns pids "$NETNS" 2>/dev/null | xargs) || true
	if [[ -n $left ]]; then
		log "SIGKILL leftover processes in $NETNS: $(for p in $left; do printf '%s(%s) ' "$p" "$(cat "/proc/$p/comm" 2>/dev/null)"; done)"
		# shellcheck disable=SC2086 # a list of pids
		kill -KILL $left 2>/dev/null || true
		sleep 0.3
	fi
}

unmount_under_run() {
	local m
	for m in $(findmnt -rn -o TARGET | grep "^$RUN/" | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m" || log "WARN: could not unmount $m"
	done
}

# teardown: idempotent; works from whatever is left in $RUN.
teardown() {
	[[ -d $RUN ]] || { ip netns list | grep -qw "$NETNS" && ip netns del "$NETNS"; return 0; }
	log "teardown"
	stop_scenario_jobs
	stop_nodes
	stop_daemons
	log "removing cgroups, mounts, $NETNS"
	remove_node_cgroups
	unmount_under_run
	if ip netns list | grep -qw "^$NETNS"; then ip netns del "$NETNS" || log "WARN: ip netns del $NETNS failed"; fi
	restore_host_sysctls
	if findmnt -rn -o TARGET | grep -q "^$RUN/"; then
		log "WARN: mounts remain under $RUN; not removing it"
		return 1
	fi
	rm -rf --one-file-system "$RUN"
	log "teardown done"
}

# ---------------------------------------------------------------- hybridnode in a node

# Node table, filled by define_node: name ip provider-id node-name labels taints
# token-mode [via]. provider-id, node-name, labels and taints are what the Node
# must show; via says how the join is run and where those values come from:
#   ack       hybridnode join, with ACK's ALIBABA_CLOUD_* variables (default)
#   script    curl -fsSL <dist>/add-node.sh | bash, with ACK's ALIBABA_CLOUD_* variables
#   metadata  hybridnode join by hand: no ALIBABA_CLOUD_*, HYBRIDNODE_METADATA_ENDPOINT
#             pointing at the fake instance metadata service
# shellcheck disable=SC2034 # used by run.sh
declare -a NODES=()
# shellcheck disable=SC2034
declare -A N_IP=() N_PROVIDER=() N_NAME=() N_LABELS=() N_TAINTS=() N_TOKEN=() N_VIA=()
# N_OS[NAME]=alinux3: the node's root is made to look like Alibaba Cloud Linux 3 before it boots (cases/hosts.sh)
declare -A N_OS=()
# shellcheck disable=SC2034 # the tables are read by run.sh
define_node() {
	NODES+=("$1"); N_IP[$1]=$2; N_PROVIDER[$1]=$3; N_NAME[$1]=$4; N_LABELS[$1]=$5; N_TAINTS[$1]=$6; N_TOKEN[$1]=$7
	N_VIA[$1]=${8:-ack}
}
# the Node object's expected name: ALIBABA_CLOUD_NODE_NAME, else the hostname
k8s_name() { echo "${N_NAME[$1]:-$1}"; }

# install_hybridnode NAME: the binary, /etc/hybridnode/config.yaml and the
# token (0600), written through the overlay before the join.
install_hybridnode() {
	install -D -m 0755 "$HN_BIN" "$(node_dir "$1")/root/usr/local/bin/hybridnode"
	write_node_config "$1"
}

# write_node_config NAME: /etc/hybridnode/config.yaml and the token file (0600):
# what ECS user data (or an image) would put on the node. Never an identity:
# providerID, nodeName, labels and taints come from ACK's variables or metadata.
write_node_config() {
	local n=$1 r; r=$(node_dir "$n")/root
	install -d -m 0700 "$r/etc/hybridnode"
	install -m 0600 "$RUN/token" "$r/etc/hybridnode/token"
	{
		cat <<EOC
kubernetesVersion: $K8S_VERSION
apiServerEndpoint: $API
caCertHashes:
  - $(cat "$RUN/ca-hash")
artifactURL: http://$GW:$ART_PORT/
EOC
		lan_node_settings
		# token-mode file: tokenFile in config.yaml; env: HYBRIDNODE_TOKEN_FILE at join time
		if [[ ${N_TOKEN[$n]} == file ]]; then echo "tokenFile: /etc/hybridnode/token"; fi
	} >"$r/etc/hybridnode/config.yaml"
}

# lan_node_settings: what every node on the test LAN needs beyond the join
# settings: its mirrors and versions (on ECS: registryMirrors, or nothing)
lan_node_settings() {
	cat <<EOC
containerdVersion: $CONTAINERD_VERSION
runcVersion: $RUNC_VERSION
crictlVersion: $CRICTL_VERSION
cniPluginsVersion: $CNI_VERSION
sandboxImage: $SANDBOX_IMAGE
registryMirrors:
  registry.k8s.io: ["http://$GW:$REG_PORT"]
  hybridnode.local: ["http://$GW:$REG_PORT"]
restrictOOMScoreAdj: true
EOC
}

# join_env NAME: the environment ACK's node script passes, as env(1) arguments
# (a hand run with metadata: only the metadata endpoint), plus JOIN_EXTRA_ENV.
join_env() {
	local n=$1
	if [[ ${N_VIA[$n]} == metadata ]]; then
		echo "HYBRIDNODE_METADATA_ENDPOINT=http://$GW:$MD_PORT"
	else
		[[ -n ${N_PROVIDER[$n]} ]] && echo "ALIBABA_CLOUD_PROVIDER_ID=${N_PROVIDER[$n]}"
		[[ -n ${N_NAME[$n]} ]] && echo "ALIBABA_CLOUD_NODE_NAME=${N_NAME[$n]}"
		[[ -n ${N_LABELS[$n]} ]] && echo "ALIBABA_CLOUD_LABELS=${N_LABELS[$n]}"
		[[ -n ${N_TAINTS[$n]} ]] && echo "ALIBABA_CLOUD_TAINTS=${N_TAINTS[$n]}"
	fi
	[[ ${N_TOKEN[$n]} == env ]] && echo "HYBRIDNODE_TOKEN_FILE=/etc/hybridnode/token"
	if ((${#JOIN_EXTRA_ENV[@]})); then printf '%s\n' "${JOIN_EXTRA_ENV[@]}"; fi
	return 0
}
declare -a JOIN_EXTRA_ENV=()

# join_command NAME: what runs inside the node, output appended to
# /var/log/acs/init.log as ACK keeps it.
join_command() {
	case ${N_VIA[$1]} in
	script)
		# as ACK runs addNodeScriptPath: fetched and piped into bash (pipefail:
		# a failed download is a failure here, not an empty script)
		echo "set -o pipefail; mkdir -p /var/log/acs; { curl -fsSL http://$GW:$DIST_PORT/add-node.sh | bash; } >>/var/log/acs/init.log 2>&1" ;;
	pool)
		# a stock instance of a node pool: the script at addNodeScriptPath, read
		# from ack-agent-config by the case (POOL_URL), as ACK's agent fetches it
		echo "set -o pipefail; mkdir -p /var/log/acs; { curl -fsSL '$POOL_URL' | bash; } >>/var/log/acs/init.log 2>&1" ;;
	*) echo 'mkdir -p /var/log/acs && exec hybridnode join >>/var/log/acs/init.log 2>&1' ;;
	esac
}

# kill_tree PID: PID and its descendants, by id.
kill_tree() {
	local c
	for c in $(pgrep -P "$1"); do kill_tree "$c"; done
	kill -KILL "$1" 2>/dev/null || true
}

# join_node NAME [TAG]: `hybridnode join >> /var/log/acs/init.log 2>&1` inside
# the node, as ACK's script runs it. Writes TAG.start/.end/.rc in the node dir.
# Fails fast when the kubelet crash-loops after kubeadm wrote its config.
JOIN_TIMEOUT=${HN_E2E_JOIN_TIMEOUT:-300}
join_node() {
	local n=$1 tag=${2:-join} d; d=$(node_dir "$1")
	local -a envs; mapfile -t envs < <(join_env "$n")
	echo "$EPOCHREALTIME" >"$d/$tag.start"
	(
		trap - ERR
		in_node_exec "$n" "${envs[@]}" /bin/bash -c "$(join_command "$n")"
	) &
	local pid=$! base="" restarts rc
	local deadline=$((SECONDS + JOIN_TIMEOUT))
	while kill -0 "$pid" 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			log "node $n: $tag still running after ${JOIN_TIMEOUT}s: killing it"
			kill_tree "$pid"; break
		fi
		if [[ -f $d/root/var/lib/kubelet/config.yaml ]]; then
			restarts=$(in_node "$n" systemctl show -P NRestarts kubelet 2>/dev/null || echo 0)
			[[ -z $base ]] && base=$restarts
			if ((restarts - base >= 2)); then
				log "node $n: kubelet restarted $((restarts - base)) times after kubeadm configured it: failing fast"
				in_node "$n" journalctl -u kubelet --no-pager -n 15 >&2 || true
				kill_tree "$pid"; break
			fi
		fi
		sleep 1
	done
	rc=0; wait "$pid" || rc=$?
	echo "$EPOCHREALTIME" >"$d/$tag.end"
	echo "$rc" >"$d/$tag.rc"
	log "node $n: hybridnode $tag exited $rc after $(elapsed "$(cat "$d/$tag.start")")s"
}

# ---------------------------------------------------------------- token leak sampler

# Samples every process's command line on the host (the nodes' processes are
# visible there) while joins run; the pattern comes from a file, so the
# sampler's own command line never holds the secret.
start_cmdline_sampler() {
	rm -f "$RUN/sampler.stop"
	: >"$RUN/cmdline-hits"
	(
		local count=0 f pid
		while [[ -d $RUN && ! -e $RUN/sampler.stop ]]; do   # ends with the run, aborted or not
			for f in $(grep -a -l -F -f "$RUN/token.secret" /proc/[0-9]*/cmdline 2>/dev/null || true); do
				pid=${f#/proc/}; pid=${pid%/cmdline}
				echo "pid $pid comm $(cat "/proc/$pid/comm" 2>/dev/null)" >>"$RUN/cmdline-hits"
			done
			count=$((count + 1))
			sleep 0.05
		done
		echo "$count" >"$RUN/sampler.count" 2>/dev/null || true
	) 8>&- &
	SAMPLER_PID=$!
}
stop_cmdline_sampler() {
	touch "$RUN/sampler.stop"
	wait "$SAMPLER_PID" 2>/dev/null || true
}

# ---------------------------------------------------------------- Node watch (timings)

# Records "<epoch> <node> <Ready status>" for every Node event.
start_node_watch() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	start_daemon node-watch bash -c '
		"$0" --kubeconfig "$1" get nodes --watch \
			-o jsonpath="{.metadata.name} {.status.conditions[?(@.type==\"Ready\")].status}{\"\n\"}" |
		while read -r name ready; do echo "$EPOCHREALTIME $name ${ready:-none}"; done' \
		"$K8S_BIN/kubectl" "$RUN/cp/admin.conf"
	cp /dev/null "$RUN/node-events" 2>/dev/null || true
}
# node_event_time NODE [True]: first time the node was seen (with Ready=True)
node_event_time() {
	awk -v n="$1" -v r="${2:-}" '$2==n && (r=="" || $3==r) {print $1; exit}' "$RUN/logs/node-watch.log"
}

# unit_active_time NAME UNIT: realtime (epoch s) the unit last entered active
unit_active_time() {
	local us
	us=$(in_node "$1" busctl get-property org.freedesktop.systemd1 \
		"/org/freedesktop/systemd1/unit/$(echo "$2" | sed 's/\./_2e/g; s/-/_2d/g')" \
		org.freedesktop.systemd1.Unit ActiveEnterTimestamp 2>/dev/null | awk '{print $2}')
	[[ -n $us && $us != 0 ]] && awk -v u="$us" 'BEGIN{printf "%.3f", u/1e6}'
}

# ---------------------------------------------------------------- assertions

PASSED=0 FAILED=0
declare -a FAILURES=()
pass() { PASSED=$((PASSED + 1)); log "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); FAILURES+=("$*"); log "FAIL: $*"; }
# note TEXT: an observation that is no failure, repeated before the summary
declare -a NOTES=()
note() { NOTES+=("$*"); log "NOTE: $*"; }
# expected NAME EXPECTED: e2e/cases/expected/EXPECTED with this run's values
# in place of its @PLACEHOLDERS@ (the node's name, provider ID and labels, the
# API server, the CA pin, the registry mirror, the versions).
expected() {
	local n=$1
	sed -e "s|@NODE_NAME@|$(k8s_name "$n")|g" -e "s|@PROVIDER_ID@|${N_PROVIDER[$n]}|g" -e "s|@LABELS@|${N_LABELS[$n]}|g" \
		-e "s|@API@|$API|g" -e "s|@CA_HASH@|$(cat "$RUN/ca-hash")|g" -e "s|@MIRROR@|http://$GW:$REG_PORT|g" \
		-e "s|@SANDBOX_IMAGE@|$SANDBOX_IMAGE|g" -e "s|@K8S_VERSION@|$K8S_VERSION|g" "$E2E_DIR/cases/expected/$2"
}
# expect_file DESC NAME EXPECTED FILE: FILE is what `expected NAME EXPECTED`
# gives; the diff when not. HN_E2E_UPDATE_EXPECTED=1 writes FILE over it instead
# (with the placeholders put back only where they are obvious: review the diff).
expect_file() {
	local desc=$1 n=$2 want=$3 got=$4 out
	if [[ -n ${HN_E2E_UPDATE_EXPECTED:-} ]]; then
		sed -e "s|$(k8s_name "$n")|@NODE_NAME@|g" -e "s|${N_PROVIDER[$n]}|@PROVIDER_ID@|g" -e "s|$(cat "$RUN/ca-hash")|@CA_HASH@|g" \
			-e "s|http://$GW:$REG_PORT|@MIRROR@|g" -e "s|$SANDBOX_IMAGE|@SANDBOX_IMAGE@|g" -e "s|$API|@API@|g" \
			"$got" >"$E2E_DIR/cases/expected/$want"
		note "$desc: wrote cases/expected/$want"
		return
	fi
	if out=$(diff -u --label "cases/expected/$want" --label "$n:${got##*/root}" <(expected "$n" "$want") "$got"); then
		pass "$desc (as cases/expected/$want)"
	else
		fail "$desc: differs from cases/expected/$want"
		head -40 <<<"$out" | sed 's/^/    | /' >&2
	fi
}
# plan_join_config NAME: the JoinConfiguration (token redacted) that
# `hybridnode plan` shows, with the node's join environment, before the join.
plan_join_config() {
	local -a envs; mapfile -t envs < <(join_env "$1")
	in_node "$1" "${envs[@]}" hybridnode plan 2>/dev/null | sed -n '/^JoinConfiguration for kubeadm/,/^$/p' | sed '1d;/^$/d;s/^  //'
}

# check DESC CMD...: pass when CMD succeeds
check() { local d=$1; shift; if "$@" >/dev/null 2>&1; then pass "$d"; else fail "$d"; fi; }
# expect DESC WANT GOT
expect() { if [[ $2 == "$3" ]]; then pass "$1"; else fail "$1: want [$2], got [$3]"; fi; }

# collect_logs: every node's journal, init.log, report and the control plane's logs.
collect_logs() {
	local dest n d f
	dest=$LOGS_ROOT/$(date +%Y%m%d-%H%M%S)
	mkdir -p "$dest"
	cp -r "$RUN/logs" "$dest/host" 2>/dev/null || true
	for d in "$RUN"/nodes/*/; do
		[[ -d $d ]] || continue
		n=$(basename "$d"); mkdir -p "$dest/$n"
		cp "$d/console.log" "$dest/$n/" 2>/dev/null || true
		# the scenarios' records: doctor runs, dpkg, bake, reset, config dump
		for f in "$d"/doctor-*.txt "$d"/doctor-*.json "$d"/dpkg.log "$d"/bake.* "$d"/bake-report.json "$d"/reset-*.log "$d"/config-dump.txt; do
			if [[ -f $f ]]; then cp "$f" "$dest/$n/"; fi
		done
		if [[ -f $d/leader.pid ]] && pid_is "$(cat "$d/leader.pid")" systemd; then
			in_node "$n" journalctl -b --no-pager >"$dest/$n/journal.txt" 2>&1 || true
			in_node "$n" systemctl --failed --no-pager >"$dest/$n/failed-units.txt" 2>&1 || true
		fi
		for f in var/log/acs/init.log var/log/acs/bake.log var/lib/hybridnode/report.json var/lib/hybridnode/installed.json \
			etc/hybridnode/config.yaml etc/containerd/config.toml var/lib/kubelet/kubeadm-flags.env var/lib/kubelet/config.yaml; do
			[[ -f $d/root/$f ]] && cp "$d/root/$f" "$dest/$n/$(basename "$f")"
		done
		[[ -d $d/root/etc/containerd/certs.d ]] && cp -r "$d/root/etc/containerd/certs.d" "$dest/$n/" 2>/dev/null
	done
	# never ship the token
	if [[ -f $RUN/token.secret ]]; then
		sed '/^$/d; s|.*|s/&/<REDACTED>/g|' "$RUN/token.secret" >"$RUN/redact.sed"
		grep -rlF -f "$RUN/token.secret" "$dest" 2>/dev/null | while read -r f; do
			log "WARN: $f contains the bootstrap token; redacting"; sed -i -f "$RUN/redact.sed" "$f"
		done
	fi
	# shellcheck disable=SC2034 # printed by run.sh
	LOGS_DIR=$dest
	log "logs collected in $dest"
}
