# shellcheck shell=bash
# e2e/lib/join.sh: hybridnode in a node: its configuration, the environment
# ACK's script passes, `hybridnode join` run as ACK runs it; the command-line
# sampler that looks for the token during joins; the Node watch (timings).

# ---------------------------------------------------------------- hybridnode in a node

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
