# shellcheck shell=bash
# e2e/cases/kill.sh: a join killed with SIGKILL mid-install and again mid-join,
# on a real node; the next run converges to the tree of an uninterrupted run.
#
#   1. KILL_NODE's artifacts come through a throttled server (the same bytes,
#      $KILL_RATE bytes/s), so the install lasts a few seconds
#   2. `hybridnode join` is killed (SIGKILL) once its first staged file exists:
#      nothing is at a final path, no installed.json; staged files are left
#   3. run again, and killed (hybridnode and kubeadm) once kubeadm has written
#      kubelet's config: the TLS bootstrap is under way
#   4. run again: exit 0, the Node is Ready, no staged file and no token file
#      is left, and the installed tree (binaries, units, configs, the record)
#      is byte for byte that of KILL_REF, a node that was never interrupted

KILL_NODE=hn-node-10
# killed mid-install and mid-join, then converged
define_node hn-node-10 "$LAN.20" cn-hangzhou.i-e2ekill10 "cn-hangzhou.$LAN.20" "$CLOUD_LABELS" "" file
register_case kill --needs ack-join --group faults
KILL_REF=hn-node-3      # same settings (ACK's variables, token file), joined uninterrupted
KILL_PORT=8083
KILL_RATE=${HN_E2E_KILL_RATE:-60000000}
# where hybridnode installs: the staged files live beside their final paths
KILL_DIRS="usr/local/bin usr/local/sbin opt/cni/bin etc var/lib/hybridnode"

# staged_files NAME: hybridnode's temp files under the node's install dirs
staged_files() {
	local r d; r=$(node_dir "$1")/root
	for d in $KILL_DIRS; do [[ -d $r/$d ]] && find "$r/$d" -xdev -name '.hybridnode-tmp-*' 2>/dev/null; done
	return 0
}
has_staged() { [[ -n $(staged_files "$1") ]]; }
# installed_tree NAME: path, mode and sha256 of what hybridnode installs and
# renders (symlinks by target), node-independent parts only
installed_tree() {
	local r; r=$(node_dir "$1")/root
	# shellcheck disable=SC2015 # || true: a missing path is no error
	(cd "$r" && find usr/local/bin usr/local/sbin opt/cni/bin etc/containerd etc/crictl.yaml etc/systemd/system \
		etc/modules-load.d etc/sysctl.d var/lib/hybridnode/installed.json \
		\( -type f -printf '%p %m ' -exec sha256sum {} \; \) -o \( -type l -printf '%p -> %l\n' \) 2>/dev/null |
		awk '{print $1, $2, $3}' | grep -v '^etc/systemd/system/hn-e2e-' | sort || true)   # minus the harness's own units
}
kubeadm_configured() { [[ -f $(node_dir "$1")/root/var/lib/kubelet/config.yaml ]] && in_node "$1" pgrep -x kubeadm; }

# kill_join NAME TAG READY_CMD...: start the join, SIGKILL hybridnode (and
# kubeadm) once READY_CMD succeeds; KILLED=yes when it was killed in time.
kill_join() {
	local n=$1 tag=$2; shift 2
	join_node "$n" "$tag" &
	local jp=$!
	KILLED=no
	if wait_for "$n: $tag: $*" 60 "$@"; then
		in_node "$n" pkill -KILL -x hybridnode && KILLED=yes
		in_node "$n" pkill -KILL -x kubeadm || true
	fi
	wait "$jp" || true
}

case_kill() {
	local n=$KILL_NODE d r t
	d=$(node_dir "$n"); r=$d/root
	log "kill: $n's join killed mid-install, then mid-join"
	CGO_ENABLED=0 go build -trimpath -o "$RUN/throttle" "$REPO_DIR/e2e/bench/throttle" ||
		{ fail "kill: the throttled artifact server does not build"; return; }
	start_daemon slow-artifacts "$RUN/throttle" -dir "$ARTIFACTS" -addr "$GW:$KILL_PORT" -lan "$LAN.0/24" -rate "$KILL_RATE"
	wait_for "throttled artifact server" 10 nsx curl -fsS -o /dev/null "http://$GW:$KILL_PORT/SHA256SUMS" ||
		{ fail "kill: the throttled artifact server does not answer"; return; }
	install_hybridnode "$n"
	sed -i "s|^artifactURL: .*|artifactURL: http://$GW:$KILL_PORT/|" "$r/etc/hybridnode/config.yaml"

	# 1. mid-install
	kill_join "$n" join-kill-install has_staged "$n"
	expect "$n: killed mid-install (SIGKILL once a staged download existed)" yes "$KILLED"
	local left; left=$(staged_files "$n" | wc -l)
	note "$n: $left staged file(s) left by the kill: $(staged_files "$n" | sed "s|$r||" | head -3 | paste -sd' ')"
	local final=() f
	for f in usr/local/bin/containerd usr/local/bin/kubelet usr/local/bin/kubeadm usr/local/sbin/runc opt/cni/bin/bridge var/lib/hybridnode/installed.json; do
		[[ -e $r/$f ]] && final+=("/$f")
	done
	expect "$n: after the kill mid-install, nothing at a final path and no installed.json" "" "${final[*]}"

	# 2. mid-join: kubeadm has configured kubelet, the TLS bootstrap is running
	kill_join "$n" join-kill-join kubeadm_configured "$n"
	expect "$n: killed mid-join (hybridnode and kubeadm, after kubeadm wrote kubelet's config)" yes "$KILLED"

	# 3. the next run converges
	t=$EPOCHREALTIME
	join_node "$n" join
	expect "$n: the run after two kills exits" 0 "$(cat "$d/join.rc")"
	if wait_for "$n Ready" 60 node_ready "$(k8s_name "$n")"; then pass "$n: Ready after the kills ($(elapsed "$t")s for the last run)"
	else fail "$n: Ready after the kills"; fi
	expect "$n: no staged file left" "" "$(staged_files "$n" | sed "s|$r||" | paste -sd' ')"
	check "$n: no token file left (/etc/hybridnode/kubeadm-join.yaml)" test ! -e "$r/etc/hybridnode/kubeadm-join.yaml"
	local got want
	got=$(installed_tree "$n"); want=$(installed_tree "$KILL_REF")
	if [[ -n $want && $got == "$want" ]]; then
		pass "$n: installed tree byte for byte that of the uninterrupted $KILL_REF ($(wc -l <<<"$got") entries)"
	else
		fail "$n: installed tree differs from the uninterrupted $KILL_REF"
		diff <(echo "$want") <(echo "$got") | head -20 >&2 || true
	fi
	assert_node "$n"
}
