# shellcheck shell=bash
# e2e/lib/teardown.sh: logs collected (token redacted), then everything
# stopped and removed, from whatever is left in $RUN.

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
	# shellcheck disable=SC2034 # printed by run.sh's on_exit
	LOGS_DIR=$dest
	log "logs collected in $dest"
}
