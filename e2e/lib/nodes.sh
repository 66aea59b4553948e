# shellcheck shell=bash
# e2e/lib/nodes.sh: the node table (define_node) and the nodes themselves:
# an overlay over the template root each, booted by systemd-nspawn in its own
# cgroups, rebooted, stopped.

# ---------------------------------------------------------------- node table

# Node table, filled by define_node: name ip provider-id node-name labels taints
# token-mode [via]. provider-id, node-name, labels and taints are what the Node
# must show; via says how the join is run and where those values come from:
#   ack       hybridnode join, with ACK's ALIBABA_CLOUD_* variables (default)
#   script    curl -fsSL <dist>/add-node.sh | bash, with ACK's ALIBABA_CLOUD_* variables
#   metadata  hybridnode join by hand: no ALIBABA_CLOUD_*, HYBRIDNODE_METADATA_ENDPOINT
#             pointing at the fake instance metadata service
# shellcheck disable=SC2034 # read by run.sh (a case's nodes: those its file defines)
declare -a NODES=()
# shellcheck disable=SC2034
declare -A N_IP=() N_PROVIDER=() N_NAME=() N_LABELS=() N_TAINTS=() N_TOKEN=() N_VIA=()
# N_OS[NAME]=alinux3: the node's root is made to look like Alibaba Cloud Linux 3 before it boots (cases/rhel.sh)
declare -A N_OS=()
# shellcheck disable=SC2034 # the tables are read by the cases and run.sh
define_node() {
	NODES+=("$1"); N_IP[$1]=$2; N_PROVIDER[$1]=$3; N_NAME[$1]=$4; N_LABELS[$1]=$5; N_TAINTS[$1]=$6; N_TOKEN[$1]=$7
	N_VIA[$1]=${8:-ack}
}
# the Node object's expected name: ALIBABA_CLOUD_NODE_NAME, else the hostname
k8s_name() { echo "${N_NAME[$1]:-$1}"; }
# the labels of the cases' cloud nodes (ACK's node pool np-e2e)
# shellcheck disable=SC2034 # read by the cases' define_node lines
CLOUD_LABELS="alibabacloud.com/nodepool-id=np-e2e,alibabacloud.com/external=true,workload=cpu"

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

# boot_nodes NAME...: all at once, then wait for each.
boot_nodes() {
	local n
	for n in "$@"; do boot_node "$n" "${N_IP[$n]}"; done
	for n in "$@"; do wait_node_running "$n"; done
}
