# shellcheck shell=bash
# e2e/bench/scale.sh: the scale-out table of `make bench` (e2e/run.sh scale).
# Prints figures, asserts nothing on time.
#
# On one control plane, rounds of 1, 4 and 8 (HN_BENCH_SCALE) bare nodes,
# each round's nodes booted first and then joined at once, as a node pool
# scaling out: each joins with ACK's variables, its artifacts from the
# artifact server. Per round: the time from the joins' start until the last
# Node is Ready (from the Node watch), the slowest and fastest node, and the
# CPU seconds kube-apiserver and etcd spent in that window (utime + stime of
# /proc/PID/stat), and the whole machine's busy CPU seconds (/proc/stat:
# everything, the nodes' installs and daemons included). Between rounds the round's kubelets stop and their Nodes
# are deleted, so that a round's API server load is its own.

SCALE_ROUNDS=${HN_BENCH_SCALE:-1 4 8}

# proc_cpu PID: user + system CPU seconds of a process
proc_cpu() {
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}
daemon_cpu() { proc_cpu "$(cat "$RUN/pids/$1" 2>/dev/null)"; }
# busy_cpu: CPU seconds the whole machine spent not idle (all cores, /proc/stat)
busy_cpu() { awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" { printf "%.2f", ($2 + $3 + $4 + $7 + $8) / hz; exit }' /proc/stat; }

# scale_round N: N fresh nodes joined at once; one row of the table
scale_round() {
	local count=$1 i n base=${SCALE_NEXT:-100} nodes=() names=() t0 times y a0 a1 e0 e1 m0 m1 last first
	for ((i = 0; i < count; i++)); do
		n=hn-s$((base + i))
		define_node "$n" "$LAN.$((base + i))" "cn-hangzhou.i-e2escale$((base + i))" "cn-hangzhou.$LAN.$((base + i))" "$CLOUD_LABELS" "" file
		nodes+=("$n"); names+=("$(k8s_name "$n")")
	done
	SCALE_NEXT=$((base + count))
	boot_nodes "${nodes[@]}"
	for n in "${nodes[@]}"; do install_hybridnode "$n"; done
	a0=$(daemon_cpu kube-apiserver); e0=$(daemon_cpu etcd); m0=$(busy_cpu)
	t0=$EPOCHREALTIME
	local pids=()
	for n in "${nodes[@]}"; do join_node "$n" & pids+=($!); done
	wait "${pids[@]}" || true
	wait_for "$count node(s) Ready" 300 all_ready "${names[@]}" || log "scale: not every node of the round of $count is Ready"
	a1=$(daemon_cpu kube-apiserver); e1=$(daemon_cpu etcd); m1=$(busy_cpu)
	times=
	for n in "${names[@]}"; do
		y=$(node_event_time "$n" True || true)
		if [[ -n $y ]]; then times+="$(awk -v a="$t0" -v b="$y" 'BEGIN{printf "%.1f", b-a}')"$'\n'; else times+=$'never\n'; fi
	done
	first=$(grep -v -e never -e '^$' <<<"$times" | sort -n | head -1)
	last=$(if grep -q never <<<"$times"; then echo "not all"; else grep . <<<"$times" | sort -n | tail -1; fi)
	SCALE_ROWS+=("$(printf '| %d | %s | %s | %.1f | %.1f | %.2f | %.1f (%.0f%% of %d cores) |' "$count" "$last" "${first:--}" \
		"$(awk -v a="$a0" -v b="$a1" 'BEGIN{print b-a}')" "$(awk -v a="$e0" -v b="$e1" 'BEGIN{print b-a}')" \
		"$(awk -v a="$a0" -v b="$a1" -v n="$count" 'BEGIN{print (b-a)/n}')" \
		"$(awk -v a="$m0" -v b="$m1" 'BEGIN{print b-a}')" \
		"$(awk -v a="$m0" -v b="$m1" -v t="$last" -v c="$(nproc)" 'BEGIN{ if (t+0 > 0) print 100*(b-a)/(t*c); else print 0 }')" "$(nproc)")")
	log "scale: round of $count: all Ready after ${last}s (first ${first:--}s); kube-apiserver $(awk -v a="$a0" -v b="$a1" 'BEGIN{print b-a}') CPU s"
	[[ -z ${WARM_ROW:-} ]] && node_ready "${names[0]}" && warm_rerun "${nodes[0]}"
	# the round's load ends with it
	for n in "${nodes[@]}"; do in_node "$n" systemctl stop kubelet containerd >/dev/null 2>&1 || true; done
	kc delete node "${names[@]}" --wait=false >/dev/null 2>&1 || true
}

# warm_rerun NODE: `hybridnode join` again on a joined node, as ACK's
# script would run it, HN_BENCH_RUNS (7) times, timed inside the node (no
# nsenter in the figure); the files it wrote under /etc, /var/lib/hybridnode,
# /usr/local/bin and /var/log (but the log it appends to), and the restarts
# of containerd and kubelet (InvocationID and NRestarts, before and after).
warm_rerun() {
	local n=$1 envs runs=${HN_BENCH_RUNS:-7} before after times writes restarted
	mapfile -t envs < <(join_env "$n")
	before=$(in_node "$n" systemctl show -p InvocationID -p NRestarts containerd kubelet)
	in_node "$n" touch /run/hn-warm-marker
	sleep 0.01
	times=$(in_node "$n" "${envs[@]}" /bin/bash -c "for i in \$(seq $runs); do
		t0=\$(date +%s%N); hybridnode join >>/var/log/acs/init.log 2>&1 || echo FAILED; t1=\$(date +%s%N)
		echo \$(( (t1 - t0) / 1000 )); done")
	after=$(in_node "$n" systemctl show -p InvocationID -p NRestarts containerd kubelet)
	writes=$(in_node "$n" find /etc /var/lib/hybridnode /usr/local/bin /var/log -newer /run/hn-warm-marker -type f ! -path /var/log/acs/init.log ! -path '/var/log/journal/*' 2>/dev/null | paste -sd' ')
	restarted=0
	[[ $before == "$after" ]] || restarted=$(diff <(echo "$before") <(echo "$after") | grep -c '^>' || true)
	if grep -q FAILED <<<"$times"; then
		WARM_ROW="warm re-run of hybridnode join on a joined node: a run failed ($n's /var/log/acs/init.log)"
		return
	fi
	WARM_ROW=$(printf 'warm re-run of hybridnode join on a joined node (%s, %d runs): median %.1f ms (min %.1f, max %.1f); files written: %s; services restarted: %s' \
		"$n" "$runs" "$(sort -n <<<"$times" | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2) / 1000}')" \
		"$(sort -n <<<"$times" | head -1 | awk '{print $1/1000}')" "$(sort -n <<<"$times" | tail -1 | awk '{print $1/1000}')" \
		"$(if [[ -n $writes ]]; then echo "$writes"; else echo 0; fi)" "$restarted")
	log "scale: $WARM_ROW"
}

cmd_scale() {
	begin
	start_node_watch
	declare -ga SCALE_ROWS=()
	WARM_ROW=
	local c
	for c in $SCALE_ROUNDS; do scale_round "$c"; done
	{
		echo
		echo "scale-out: N bare nodes joined at once (seconds from the joins' start; CPU seconds in that window)"
		echo "| nodes | all Ready | first Ready | kube-apiserver CPU | etcd CPU | apiserver CPU per node | machine CPU busy |"
		echo "|---|---|---|---|---|---|---|"
		printf '%s\n' "${SCALE_ROWS[@]}"
		echo
		echo "${WARM_ROW:-warm re-run: not measured (no node of the first round was Ready)}"
		echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
	} >&5
}
