# shellcheck shell=bash
# e2e/lib/net.sh: the host sysctls a node changes (saved, restored) and the
# test LAN: the network namespace $NETNS with the bridge $BRIDGE.

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
