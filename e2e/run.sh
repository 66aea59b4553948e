#!/usr/bin/env bash
# hybridnode real-cluster e2e harness.
#
#   e2e/run.sh test          control plane + 3 cloud nodes + 1 on-premises node,
#                            real `hybridnode join` in each, assertions; then (scenarios.sh)
#                            make release, a baked node, a bare node through add-node.sh,
#                            a hand run with instance metadata, the node-pool case
#                            (cases/node-pool.sh: cluster check/setup/rotate, stock
#                            nodes through addNodeScriptPath), doctor/reset/rejoin,
#                            the API server stopped; teardown
#   e2e/run.sh demo          control plane, `hybridnode cluster setup`, one stock node joined
#                            through addNodeScriptPath; left running
#   e2e/run.sh down          tear down whatever a run left behind
#   e2e/run.sh kubectl ARGS  kubectl against the running test cluster
#   e2e/run.sh shell NODE    a shell inside a running node
#
# Needs root and the outputs of e2e/build/prepare.sh under $HN_CACHE
# (default /var/cache/hybridnode-e2e). Environment knobs:
#   HN_E2E_BINARY=path       use this hybridnode binary instead of building cmd/hybridnode
#   HN_E2E_JOIN_TIMEOUT=300  seconds before a join is killed
#   HN_E2E_KEEP_LOGS=1       collect logs even when everything passed
#   HN_E2E_STATE=dir         state (run/) and collected logs (logs/), default /var/lib/hybridnode-e2e
set -Eeuo pipefail
# shellcheck source=lib/settings.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/settings.sh"
# shellcheck source=lib/base.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/base.sh"
# shellcheck source=lib/net.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/net.sh"
# shellcheck source=lib/controlplane.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/controlplane.sh"
# shellcheck source=lib/nodes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/nodes.sh"
# shellcheck source=lib/join.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/join.sh"
# shellcheck source=lib/teardown.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/teardown.sh"
# shellcheck source=release.sh
source "$(dirname "${BASH_SOURCE[0]}")/release.sh"
# shellcheck source=asserts.sh
source "$(dirname "${BASH_SOURCE[0]}")/asserts.sh"
# shellcheck source=scenarios.sh
source "$(dirname "${BASH_SOURCE[0]}")/scenarios.sh"
# shellcheck source=cases/node-pool.sh
source "$(dirname "${BASH_SOURCE[0]}")/cases/node-pool.sh"
# shellcheck source=cases/identity.sh
source "$(dirname "${BASH_SOURCE[0]}")/cases/identity.sh"
# shellcheck source=cases/kill.sh
source "$(dirname "${BASH_SOURCE[0]}")/cases/kill.sh"
# shellcheck source=cases/apiserver-down.sh
source "$(dirname "${BASH_SOURCE[0]}")/cases/apiserver-down.sh"

CLOUD_LABELS="alibabacloud.com/nodepool-id=np-e2e,alibabacloud.com/external=true,workload=cpu"
#            name        ip          provider id            node name               labels           taints                                          token
define_node hn-node-1 "$LAN.11" cn-hangzhou.i-e2e0001 "cn-hangzhou.$LAN.11" "$CLOUD_LABELS" "workload=ack:NoSchedule,dedicated=gpu:NoExecute" file
define_node hn-node-2 "$LAN.12" cn-hangzhou.i-e2e0002 "cn-hangzhou.$LAN.12" "$CLOUD_LABELS" "workload=ack:NoSchedule" file
define_node hn-node-3 "$LAN.13" cn-hangzhou.i-e2e0003 "cn-hangzhou.$LAN.13" "$CLOUD_LABELS" "" file
# on-premises: no ALIBABA_CLOUD_PROVIDER_ID/NODE_NAME (Node name = hostname), no
# external label, token file given through HYBRIDNODE_TOKEN_FILE instead of config.yaml
define_node idc-node-4 "$LAN.14" "" "" "alibabacloud.com/nodepool-id=np-idc,workload=cpu" "" env
CLOUD_NODES=(hn-node-1 hn-node-2 hn-node-3)
ONPREM_NODES=(idc-node-4)
# after the assertions above (scenarios.sh):
# baked image: .deb + `hybridnode install`, then add-node.sh at boot finds /usr/bin/hybridnode
define_node hn-node-5 "$LAN.15" cn-hangzhou.i-e2e0005 "cn-hangzhou.$LAN.15" "$CLOUD_LABELS,e2e.hybridnode.io/install=baked" "" file script
# bare instance: curl -fsSL http://10.77.0.1:8081/add-node.sh | bash
define_node hn-node-6 "$LAN.16" cn-hangzhou.i-e2e0006 "cn-hangzhou.$LAN.16" "$CLOUD_LABELS,e2e.hybridnode.io/install=script" "workload=ack:NoSchedule" file script
# hand run: no ALIBABA_CLOUD_*; name and provider ID from the fake metadata service
define_node hn-node-7 "$LAN.17" cn-hangzhou.i-e2emeta07 "cn-hangzhou.$LAN.17" "" "" file metadata
# stock instances of a node pool: nothing of hybridnode on them, only ACK's four
# variables; they run the script `hybridnode cluster setup` put at addNodeScriptPath
define_node hn-node-8 "$LAN.18" cn-hangzhou.i-e2epool08 "cn-hangzhou.$LAN.18" "$CLOUD_LABELS,e2e.hybridnode.io/install=pool" "workload=ack:NoSchedule" none pool
define_node hn-node-9 "$LAN.19" cn-hangzhou.i-e2epool09 "cn-hangzhou.$LAN.19" "$CLOUD_LABELS,e2e.hybridnode.io/install=pool" "" none pool
# killed mid-install and mid-join (cases/kill.sh), then converged
define_node hn-node-10 "$LAN.20" cn-hangzhou.i-e2ekill10 "cn-hangzhou.$LAN.20" "$CLOUD_LABELS" "" file
# joins started with kube-apiserver down (cases/apiserver-down.sh): one with a
# 30s joinTimeout that fails and is run again, one that waits for it
define_node hn-node-11 "$LAN.21" cn-hangzhou.i-e2edown11 "cn-hangzhou.$LAN.21" "$CLOUD_LABELS" "" file
define_node hn-node-12 "$LAN.22" cn-hangzhou.i-e2edown12 "cn-hangzhou.$LAN.22" "$CLOUD_LABELS" "workload=ack:NoSchedule" file
# instance identity (cases/identity.sh): no token on the node; one joins, one is refused
define_node hn-node-13 "$LAN.23" cn-hangzhou.i-e2eid13 "cn-hangzhou.$LAN.23" "$CLOUD_LABELS" "" none pool
define_node hn-node-14 "$LAN.24" cn-hangzhou.i-e2eid14 "cn-hangzhou.$LAN.24" "$CLOUD_LABELS" "" none
BAKED=hn-node-5 BARE=hn-node-6 MDNODE=hn-node-7
# hosts other than Debian with containerd 2.x: defines hn-node-15 and hn-node-16
# shellcheck source=cases/hosts.sh
source "$(dirname "${BASH_SOURCE[0]}")/cases/hosts.sh"
POOL_NODES=(hn-node-8 hn-node-9)

MODE=${1:-test}
T_START=$EPOCHREALTIME
# The harness's own stdout and stderr, for on_exit: a signal may land while a
# command's output is redirected (wait_for's >/dev/null), and the EXIT trap
# runs inside that redirection. Long-lived children close them (5>&- 6>&-).
exec 5>&1 6>&2

# one harness at a time on a machine (same namespace, same state directory)
lock() {
	mkdir -p "$STATE_ROOT"
	exec 8>"$STATE_ROOT/.lock"
	flock -n 8 || die "another e2e/run.sh holds $STATE_ROOT/.lock"
}

on_exit() {
	local rc=$1
	exec 1>&5 2>&6
	set +e
	trap - ERR
	if [[ $MODE == demo && $rc == 0 ]]; then return 0; fi
	if ((rc != 0)); then fail "harness aborted (exit $rc)"; fi
	if ((FAILED > 0)) || [[ -n ${HN_E2E_KEEP_LOGS:-} ]]; then collect_logs; fi
	teardown
	log "wall time $(elapsed "$T_START")s"
	[[ -n ${LOGS_DIR:-} ]] && echo "logs: $LOGS_DIR"
	if ((${#NOTES[@]})); then printf '  note: %s\n' "${NOTES[@]}"; fi
	if ((FAILED > 0)); then printf '  failed: %s\n' "${FAILURES[@]}"; fi
	echo "$PASSED passed, $FAILED failed"
	((FAILED == 0)) || exit 1
}

begin() {
	[[ $(id -u) == 0 ]] || die "run as root"
	lock
	check_prereqs
	if [[ -d $RUN ]] || ip netns list | grep -qw "^$NETNS"; then
		log "leftovers of an earlier run found: tearing them down first"
		teardown
	fi
	mkdir -p "$RUN/logs" "$RUN/nodes"
	save_host_sysctls
	trap 'on_exit $?' EXIT
	trap 'exit 130' INT TERM
	trap 'log "error: \"$BASH_COMMAND\" failed (line $LINENO)"' ERR
	start_release_build   # the demo too: its node joins through the node-pool script
	build_hybridnode
	setup_netns
	start_servers
	start_scenario_servers
	start_control_plane
	apply_cni_daemonsets
}

# ---------------------------------------------------------------- ack-join's assertions

file_mtimes() { in_node "$1" sh -c 'find /etc /var/lib/hybridnode /usr/local/bin -printf "%T@ %y %p\n" 2>/dev/null | sort -k3'; }
service_state() { in_node "$1" systemctl show -p Id -p NRestarts -p ActiveEnterTimestampMonotonic -p MainPID -p InvocationID containerd kubelet; }

assert_rejoin_idempotent() {
	local n=$1 d; d=$(node_dir "$1")
	file_mtimes "$n" >"$d/mtimes.before"; service_state "$n" >"$d/services.before"
	start_cmdline_sampler
	join_node "$n" rejoin
	stop_cmdline_sampler
	file_mtimes "$n" >"$d/mtimes.after"; service_state "$n" >"$d/services.after"
	expect "$n: second hybridnode join exit code" 0 "$(cat "$d/rejoin.rc")"
	local changed; changed=$(diff "$d/mtimes.before" "$d/mtimes.after" | grep '^[<>]' | awk '{print $1, $4}' | sort -k2 -u | awk '{print $2}' | paste -sd' ' || true)
	if [[ -z $changed ]]; then pass "$n: second join changed no file under /etc /var/lib/hybridnode /usr/local/bin"
	else fail "$n: second join changed files: $changed"; fi
	if diff -q "$d/services.before" "$d/services.after" >/dev/null; then pass "$n: second join restarted no service (containerd, kubelet)"
	else fail "$n: second join restarted a service: $(diff "$d/services.before" "$d/services.after" | grep '^[<>]' | paste -sd' ')"; fi
	local hits; hits=$(sort -u "$RUN/cmdline-hits" | paste -sd';')
	if [[ -n $hits ]]; then fail "bootstrap token in process command lines during the second join: $hits"; fi
}

# terway on the cloud nodes only, calico on the on-prem node only
assert_cni_daemonsets() {
	local n cloud_names onprem_names
	cloud_names=$(for n in "${CLOUD_NODES[@]}"; do k8s_name "$n"; done | sort | paste -sd,)
	onprem_names=$(for n in "${ONPREM_NODES[@]}"; do k8s_name "$n"; done | sort | paste -sd,)
	wait_for "terway DaemonSet ready" 60 ds_ready terway "${#CLOUD_NODES[@]}" || true
	wait_for "calico DaemonSet ready" 60 ds_ready calico "${#ONPREM_NODES[@]}" || true
	expect "terway pods: one on each cloud node, none elsewhere" "$cloud_names" "$(ds_pod_nodes terway)"
	expect "calico pods: none on cloud nodes, one on the on-prem node" "$onprem_names" "$(ds_pod_nodes calico)"
	check "terway DaemonSet ready ${#CLOUD_NODES[@]}/${#CLOUD_NODES[@]}" ds_ready terway "${#CLOUD_NODES[@]}"
	check "calico DaemonSet ready ${#ONPREM_NODES[@]}/${#ONPREM_NODES[@]}" ds_ready calico "${#ONPREM_NODES[@]}"
}

# ---------------------------------------------------------------- modes

# The cases, in the order they run on one control plane, each with the nodes
# it boots and the cases it needs first. HN_E2E_CASES=name,name runs a subset
# (with what they need); unset, all of them.
CASES=(ack-join baked bare-script metadata node-pool identity doctor-reset rhel containerd17 kill apiserver-down)
declare -A CASE_NODES=(
	[ack-join]="${CLOUD_NODES[*]} ${ONPREM_NODES[*]}" [baked]=$BAKED [bare-script]=$BARE [metadata]=$MDNODE
	[node-pool]="${POOL_NODES[*]}" [identity]="$ID_NODE $ID_BAD" [doctor-reset]="" [kill]=$KILL_NODE
	[apiserver-down]="$DOWN_SHORT $DOWN_WAIT" [rhel]=$RHEL_NODE [containerd17]=$C17_NODE
)
declare -A CASE_NEEDS=([doctor-reset]="metadata baked bare-script" [kill]=ack-join [apiserver-down]=ack-join)
declare -A WANT=()
# select_cases: WANT from HN_E2E_CASES, with what each needs; unknown names are errors
select_cases() {
	local c d known=" ${CASES[*]} " list
	if [[ -n ${HN_E2E_CASES:-} ]]; then IFS=, read -ra list <<<"$HN_E2E_CASES"; else list=("${CASES[@]}"); fi
	for c in "${list[@]}"; do
		[[ -n $c ]] || continue
		[[ $c != *" "* && $known == *" $c "* ]] || die "HN_E2E_CASES: unknown case $c; the cases are: ${CASES[*]}"
		WANT[$c]=1
	done
	for c in "${CASES[@]}"; do   # needs only point backwards in CASES
		[[ -n ${WANT[$c]:-} ]] || continue
		for d in ${CASE_NEEDS[$c]:-}; do
			[[ -n ${WANT[$d]:-} ]] || { log "case $c needs case $d: running it too"; WANT[$d]=1; }
		done
	done
	# a second pass for needs added by the first
	for c in "${CASES[@]}"; do
		[[ -n ${WANT[$c]:-} ]] || continue
		for d in ${CASE_NEEDS[$c]:-}; do WANT[$d]=1; done
	done
	log "cases: $(for c in "${CASES[@]}"; do [[ -n ${WANT[$c]:-} ]] && printf '%s ' "$c"; done)"
}
want() { [[ -n ${WANT[$1]:-} ]]; }
# shellcheck disable=SC2086 # a list of names
wanted_nodes() { local c; for c in "${CASES[@]}"; do if want "$c"; then echo ${CASE_NODES[$c]}; fi; done; }

cmd_test() {
	select_cases   # before anything: an unknown case name is an error
	begin
	local nodes; read -ra nodes <<<"$(wanted_nodes | xargs)"
	((${#nodes[@]})) || die "no node to boot for the cases selected"
	boot_nodes "${nodes[@]}"
	start_node_watch
	if want baked; then start_bake "$BAKED"; fi   # in the background, while the first joins run
	if want ack-join; then case_ack_join; fi
	run_scenarios
	kc get nodes -o wide >&2 || true
}

# case_ack_join: three cloud nodes with ACK's variables and one on-premises
# node, joined at once; the Terway/Calico split, a workload, a second join.
case_ack_join() {
	local all=("${CLOUD_NODES[@]}" "${ONPREM_NODES[@]}") n
	log "joining ${#all[@]} nodes concurrently"
	join_nodes "${all[@]}"
	for n in "${all[@]}"; do assert_node "$n"; done
	assert_ready_and_taints "${all[@]}"
	if ((FAILED > 0)) && ! kc get nodes -o name 2>/dev/null | grep -q .; then
		fail "no node joined: skipping the workload assertions"
	else
		assert_cni_daemonsets
		if node_ready "$(k8s_name hn-node-1)"; then assert_workload_pod hn-node-1; else fail "workload pod: hn-node-1 is not Ready"; fi
	fi
	assert_no_token_leak "${all[@]}"
	print_timings "${all[@]}"
	if [[ $(cat "$(node_dir hn-node-1)/join.rc") == 0 ]]; then assert_rejoin_idempotent hn-node-1
	else fail "second join: the first join of hn-node-1 failed"; fi
}

# run_scenarios: the cases after ack-join: the release's baked and bare
# nodes, the hand run with metadata, node pools, identity, doctor and reset,
# kills, the API server down.
run_scenarios() {
	local n joiners=() t=$EPOCHREALTIME
	log "scenarios: release, then the selected cases"
	if want baked || want bare-script || want node-pool || want identity; then assert_release || true; fi
	if want baked; then wait_bake "$BAKED"; fi
	if [[ $RELEASE_OK == yes ]]; then
		if want baked; then
			if grep -q '^fail' "$(node_dir "$BAKED")/bake.results"; then fail "$BAKED: boot-time join not run: the bake failed"
			else joiners+=("$BAKED"); fi
		fi
		if want bare-script; then
			write_node_config "$BARE"   # stands in for ECS user data: endpoint, CA pin, token file, artifactURL
			joiners+=("$BARE")
		fi
	elif want baked || want bare-script; then
		fail "$BAKED, $BARE: not joined: make release failed"
	fi
	if want metadata; then install_hybridnode "$MDNODE"; joiners+=("$MDNODE"); fi
	if want baked; then echo $(($(log_lines artifacts) + 1)) >"$(node_dir "$BAKED")/artifacts.mark"; fi
	if ((${#joiners[@]})); then
		log "joining ${joiners[*]} concurrently (add-node.sh | bash; add-node.sh | bash; hybridnode join by hand)"
		local pids=()
		start_cmdline_sampler
		for n in "${joiners[@]}"; do join_node "$n" & pids+=($!); done
		wait "${pids[@]}" || true
		stop_cmdline_sampler
		for n in "${joiners[@]}"; do assert_node "$n"; done
		assert_ready_and_taints "${joiners[@]}"
		assert_no_token_leak "${joiners[@]}"
	fi
	if [[ " ${joiners[*]} " == *" $BAKED "* && " ${joiners[*]} " == *" $BARE "* ]]; then assert_script_joins "$BAKED" "$BARE"; fi
	if want metadata; then assert_metadata_join "$MDNODE"; fi
	if want baked; then print_bake_figures "$BAKED"; fi
	if ((${#joiners[@]})); then print_join_figures "${joiners[@]}"; fi
	if want baked && want bare-script; then compare_baked_bare "$BAKED" "$BARE"; fi
	if want node-pool; then case_node_pool; fi
	if want identity; then case_identity; fi
	if want doctor-reset; then case_doctor_reset "${joiners[@]}"; fi
	if want rhel; then case_rhel; fi
	if want containerd17; then case_containerd17; fi
	start_cmdline_sampler
	if want kill; then case_kill; fi
	if want apiserver-down; then case_apiserver_down hn-node-1; fi   # last: everything after it waits for /readyz
	stop_cmdline_sampler
	local ends=()
	if want kill; then ends+=("$KILL_NODE"); fi
	if want apiserver-down; then ends+=("$DOWN_SHORT" "$DOWN_WAIT"); fi
	if ((${#ends[@]})); then assert_no_token_leak "${ends[@]}"; fi   # killed, failed and waiting joins too
	assert_no_imds_traffic
	log "scenarios done in $(elapsed "$t")s"
}

# case_doctor_reset JOINED...: doctor on the healthy baked and bare nodes, on
# the hand-run node with metadata; then reset, a deleted token, and the rejoin.
case_doctor_reset() {
	local n joined=" $* "
	for n in "$BAKED" "$BARE"; do
		if [[ $joined == *" $n "* ]] && node_ready "$(k8s_name "$n")"; then assert_doctor_healthy "$n"
		else fail "$n: doctor on a healthy joined cloud node: $n is not joined and Ready"; fi
	done
	doctor_run "$MDNODE" metadata HYBRIDNODE_METADATA_ENDPOINT="$MD_URL"
	expect "$MDNODE: doctor on the hand-run node exit code" 0 "$DOC_RC"
	expect "$MDNODE: doctor: pod-subnet checked against the VPC CIDR from metadata ($(doc pod-subnet evidence))" pass "$(doc pod-subnet)"
	if [[ $(cat "$(node_dir "$MDNODE")/join.rc") == 0 ]]; then scenario_reset_token_rejoin "$MDNODE"
	else fail "$MDNODE: reset/token/rejoin not run: its first join failed"; fi
}

# cmd_demo: the main path, left running: `hybridnode cluster setup` on the
# control plane, then a stock instance joins through addNodeScriptPath alone.
cmd_demo() {
	MODE=demo
	begin
	local n=${POOL_NODES[0]}
	boot_nodes "$n"
	start_node_watch
	if assert_release; then
		mkdir -p "$POOL_DIR" "$(dirname "$POOL_SCRIPT")"
		lan_node_settings >"$POOL_DIR/node-config.yaml"
		# a registered cluster as ACK leaves it: Calico without the affinity, eni-config, ack-agent-config
		apply_manifest calico-node-unpatched.yaml
		# shellcheck disable=SC2046 # word lists
		pool_run check hc check $(pool_flags)
		sed 's/^/    | /' "$POOL_DIR/check.out" >&2
		# shellcheck disable=SC2046
		pool_run setup hc setup $(pool_flags) $(pool_setup_flags)
		sed 's/^/    | /' "$POOL_DIR/setup.out" >&2
		POOL_URL=$(kc -n kube-system get cm ack-agent-config -o jsonpath='{.data.addNodeScriptPath}')
		log "stock instance $n: curl -fsSL $POOL_URL | bash, with ACK's four variables only"
		join_node "$n"
		wait_for "Node Ready" 180 node_ready "$(k8s_name "$n")" || log "WARN: node not Ready"
		print_timings "$n"
	else
		log "WARN: make release failed: no node joined ($RUN/logs/make-release.log)"
	fi
	kc get nodes -o wide --show-labels
	cat <<EOF

The demo cluster is running (network namespace $NETNS, state in $RUN).
  kubectl:     $0 kubectl get pods -A -o wide
  node shell:  $0 shell $n
  init log:    $RUN/nodes/$n/root/var/log/acs/init.log
  node script: $POOL_SCRIPT (what hybridnode cluster setup wrote: it holds a token)
  cluster:     ip netns exec $NETNS $RUN/dist/hybridnode-cluster-linux-amd64 --kubeconfig $RUN/cp/admin.conf check
  tear down:   $0 down
EOF
}

case $MODE in
test) cmd_test ;;
demo) cmd_demo ;;
down)
	[[ $(id -u) == 0 ]] || die "run as root"
	lock
	teardown
	;;
kubectl) shift; kc "$@" ;;
shell)
	[[ -n ${2:-} ]] || die "usage: $0 shell NODE"
	nsenter -t "$(node_leader "$2")" -a env -i PATH="$NODE_PATH" HOME=/root TERM="${TERM:-xterm}" /bin/bash -l
	;;
*) sed -n '2,16p' "$0"; exit 2 ;;
esac
