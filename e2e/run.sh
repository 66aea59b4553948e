#!/usr/bin/env bash
# hybridnode real-cluster e2e harness.
#
#   e2e/run.sh test          the cases (CASES below, each e2e/cases/<name>.sh) on one
#                            control plane: the nodes they define booted at once, then
#                            each case in order; teardown. HN_E2E_CASES=name,name runs
#                            those (and the cases they need)
#   e2e/run.sh cases         the cases with their groups, needs, steps and nodes, the
#                            nodes, and what HN_E2E_CASES selects; touches nothing
#                            (no root, no prepare.sh)
#   e2e/run.sh demo          control plane, `hybridnode cluster setup`, one stock node joined
#                            through addNodeScriptPath; left running
#   e2e/run.sh scale         the scale-out table of `make bench` (e2e/bench/scale.sh):
#                            rounds of 1, 4, 8 bare nodes joined at once; teardown
#   e2e/run.sh down          tear down whatever a run left behind
#   e2e/run.sh kubectl ARGS  kubectl against the running test cluster
#   e2e/run.sh shell NODE    a shell inside a running node
#
# Needs root and the outputs of e2e/build/prepare.sh under $HN_CACHE
# (default /var/cache/hybridnode-e2e). Environment knobs:
#   HN_E2E_CASES=a,b         run these cases (and what they need) instead of all
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
# shellcheck source=bench/scale.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench/scale.sh"

# ---------------------------------------------------------------- the cases

# The cases, in the order they run on one control plane. Each is
# e2e/cases/<name>.sh, sourced below in this order: its define_node lines (the
# nodes it boots), one register_case line, and case_<name> (its steps and
# assertions; - in the name is _ in the function's). A new case: its file, and
# its name here.
CASES=(ack-join onprem rejoin baked bare-script metadata node-pool identity doctor-reset rhel containerd17 gpu proxy ipvs skew kill apiserver-down)

# Groups (register_case --group). The selected cases of a group run back to
# back, where the first of them is in CASES, under one command-line sampler:
#   1. each case's join_case_<name>, if it has one, queues nodes (group_join);
#   2. the queued nodes join concurrently, then assert_node and
#      assert_ready_and_taints for each;
#   3. case_<name> of each case, in order;
#   4. one token check (assert_no_token_leak) over the queued nodes and the nodes
#      of the group's cases that queue none, then GROUP_FIGURES[group] with the
#      queued nodes.
# A grouped case does not start the sampler itself.
declare -A GROUP_FIGURES=([first]=print_timings [baked]=print_baked_figures [batch]=print_batch_figures [faults]=:)

# Hooks a case may define besides case_<name>: start_case_<name> (right after
# the nodes booted, before any case runs: the bake), join_case_<name> (grouped
# cases: step 1 above).

declare -A CASE_NODES=() CASE_NEEDS=() CASE_GROUP=()
LOADING='' REGISTERED=''
# register_case NAME [--needs "CASE..."] [--group GROUP]: in cases/NAME.sh:
# the cases NAME needs run first (they are before it in CASES); GROUP: above
register_case() {
	local c=$1; shift
	[[ $c == "$LOADING" ]] || die "register_case $c: not in cases/$c.sh (in cases/${LOADING:-?}.sh)"
	while (($#)); do
		(($# >= 2)) || die "register_case $c: $1 without a value"
		case $1 in
		--needs) CASE_NEEDS[$c]=$2 ;;
		--group) CASE_GROUP[$c]=$2 ;;
		*) die "register_case $c: unknown option $1" ;;
		esac
		shift 2
	done
	REGISTERED=$c
}

# the case files; a case's nodes are those its file defines
for LOADING in "${CASES[@]}"; do
	[[ $LOADING =~ ^[a-z0-9]+(-[a-z0-9]+)*$ ]] || die "case $LOADING: a name is lower-case words joined by -"
	[[ -f $E2E_DIR/cases/$LOADING.sh ]] || die "case $LOADING: no e2e/cases/$LOADING.sh"
	n0=${#NODES[@]}
	# shellcheck source=/dev/null # each case file is checked on its own
	source "$E2E_DIR/cases/$LOADING.sh"
	[[ $REGISTERED == "$LOADING" ]] || die "cases/$LOADING.sh: no register_case $LOADING"
	CASE_NODES[$LOADING]=${NODES[*]:n0}
	declare -F "case_${LOADING//-/_}" >/dev/null || die "cases/$LOADING.sh: no case_${LOADING//-/_}"
done
LOADING='' REGISTERED=''
unset n0

# check_registry: what CASES and the case files say holds together: needs name
# earlier cases; a group is in GROUP_FIGURES and its cases are consecutive in
# CASES; only a grouped case has a join hook; no node is defined twice, no
# address used twice
check_registry() {
	local c d g prev='' groups=" " before=" " n seen_ips=" " seen_nodes=" "
	for c in "${CASES[@]}"; do
		for d in ${CASE_NEEDS[$c]:-}; do
			[[ $before == *" $d "* ]] || die "case $c needs $d: not a case before it in CASES"
		done
		g=${CASE_GROUP[$c]:-}
		if [[ -n $g ]]; then
			[[ -n ${GROUP_FIGURES[$g]+set} ]] || die "case $c: group $g is not in GROUP_FIGURES (run.sh)"
			[[ $g == "$prev" || $groups != *" $g "* ]] || die "case $c: group $g's cases are not consecutive in CASES"
			groups+="$g "
		elif declare -F "join_case_${c//-/_}" >/dev/null; then
			die "case $c: join_case_${c//-/_} but no --group"
		fi
		prev=$g before+="$c "
	done
	for n in "${NODES[@]}"; do
		[[ $seen_nodes != *" $n "* ]] || die "node $n: defined twice"
		[[ $seen_ips != *" ${N_IP[$n]} "* ]] || die "node $n: address ${N_IP[$n]} used twice"
		seen_nodes+="$n " seen_ips+="${N_IP[$n]} "
	done
}

declare -A WANT=()
# select_cases: WANT from HN_E2E_CASES (unset: every case), with the cases each
# needs, and theirs; an unknown name is an error
select_cases() {
	local c d i known=" ${CASES[*]} " list
	check_registry
	if [[ -n ${HN_E2E_CASES:-} ]]; then IFS=, read -ra list <<<"$HN_E2E_CASES"; else list=("${CASES[@]}"); fi
	for c in "${list[@]}"; do
		[[ -n $c ]] || continue
		[[ $c != *" "* && $known == *" $c "* ]] || die "HN_E2E_CASES: unknown case $c; the cases are: ${CASES[*]}"
		WANT[$c]=1
	done
	((${#WANT[@]})) || die "HN_E2E_CASES=$HN_E2E_CASES: no case"
	for ((i = ${#CASES[@]} - 1; i >= 0; i--)); do   # needs point backwards: one pass from the end
		c=${CASES[i]}
		[[ -n ${WANT[$c]:-} ]] || continue
		for d in ${CASE_NEEDS[$c]:-}; do
			[[ -n ${WANT[$d]:-} ]] || { log "case $c needs case $d: running it too"; WANT[$d]=1; }
		done
	done
	log "cases: $(for c in "${CASES[@]}"; do [[ -n ${WANT[$c]:-} ]] && printf '%s ' "$c"; done)"
}
want() { [[ -n ${WANT[$1]:-} ]]; }
# shellcheck disable=SC2086 # a list of names
wanted_nodes() { local c; for c in "${CASES[@]}"; do if want "$c"; then echo ${CASE_NODES[$c]}; fi; done; }

# run_cases: the selected cases in CASES order, a group's at its first case
run_cases() {
	local cname grp gdone=" "
	for cname in "${CASES[@]}"; do
		want "$cname" || continue
		grp=${CASE_GROUP[$cname]:-}
		if [[ -z $grp ]]; then run_case "$cname"
		elif [[ $gdone != *" $grp "* ]]; then gdone+="$grp "; run_group "$grp"; fi
	done
}

# run_case NAME: case_NAME
run_case() {
	local tcase=$EPOCHREALTIME
	log "case $1"
	"case_${1//-/_}"
	log "case $1 done in $(elapsed "$tcase")s"
}

# run_group GROUP: its selected cases, as the comment on GROUP_FIGURES says
declare -a GROUP_JOINERS=() JOINED=()
run_group() {
	local grp=$1 cname gnode gcases=() gnodes=() gpids=() cnodes=()
	for cname in "${CASES[@]}"; do
		if want "$cname" && [[ ${CASE_GROUP[$cname]:-} == "$grp" ]]; then gcases+=("$cname"); fi
	done
	log "group $grp: ${gcases[*]}"
	GROUP_JOINERS=()
	for cname in "${gcases[@]}"; do
		if declare -F "join_case_${cname//-/_}" >/dev/null; then
			"join_case_${cname//-/_}"
		else
			read -ra cnodes <<<"${CASE_NODES[$cname]}"
			gnodes+=("${cnodes[@]}")
		fi
	done
	start_cmdline_sampler
	if ((${#GROUP_JOINERS[@]})); then
		log "group $grp: joining ${GROUP_JOINERS[*]} concurrently"
		for gnode in "${GROUP_JOINERS[@]}"; do join_node "$gnode" & gpids+=($!); done
		wait "${gpids[@]}" || true
		for gnode in "${GROUP_JOINERS[@]}"; do assert_node "$gnode"; done
		assert_ready_and_taints "${GROUP_JOINERS[@]}"
	fi
	for cname in "${gcases[@]}"; do run_case "$cname"; done
	stop_cmdline_sampler
	gnodes=("${GROUP_JOINERS[@]}" "${gnodes[@]}")
	if ((${#gnodes[@]})); then assert_no_token_leak "${gnodes[@]}"; fi   # killed, failed and waiting joins too
	"${GROUP_FIGURES[$grp]}" "${GROUP_JOINERS[@]}"
}
# group_join NODE...: in a join_case_ hook: NODE joins at its group's start
group_join() { GROUP_JOINERS+=("$@"); JOINED+=("$@"); }
# joined NODE: NODE joined at its group's start
joined() { [[ " ${JOINED[*]} " == *" $1 "* ]]; }

# ---------------------------------------------------------------- modes

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
	# the demo too: its node joins through the node-pool script; not the
	# scale-out benchmark, whose rounds it would slow
	[[ $MODE == scale ]] || start_release_build
	build_hybridnode
	setup_netns
	start_servers
	start_scenario_servers
	start_control_plane
	apply_cni_daemonsets
}

cmd_test() {
	select_cases   # before anything: an unknown case name is an error
	begin
	local nodes cname t; read -ra nodes <<<"$(wanted_nodes | xargs)"
	((${#nodes[@]})) || die "no node to boot for the cases selected"
	boot_nodes "${nodes[@]}"
	start_node_watch
	for cname in "${CASES[@]}"; do   # in the background, while the first cases run
		if want "$cname" && declare -F "start_case_${cname//-/_}" >/dev/null; then "start_case_${cname//-/_}"; fi
	done
	t=$EPOCHREALTIME
	run_cases
	assert_no_imds_traffic
	log "cases done in $(elapsed "$t")s"
	kc get nodes -o wide >&2 || true
}

# cmd_cases: the registry as a run sees it, and what HN_E2E_CASES selects;
# boots nothing, needs no root
cmd_cases() {
	select_cases
	local c fn steps n
	printf '%-15s %-7s %-27s %-16s %s\n' case group needs steps nodes
	for c in "${CASES[@]}"; do
		fn=${c//-/_} steps=
		if declare -F "start_case_$fn" >/dev/null; then steps+=start,; fi
		if declare -F "join_case_$fn" >/dev/null; then steps+=join,; fi
		steps+=case
		printf '%-15s %-7s %-27s %-16s %s\n' "$c" "${CASE_GROUP[$c]:--}" "${CASE_NEEDS[$c]:--}" "$steps" "${CASE_NODES[$c]:--}"
	done
	echo
	printf '%-11s %-11s %-9s %-6s %-15s %-23s %-26s %s\n' node address via token case "Node name" "provider ID" taints
	for c in "${CASES[@]}"; do
		for n in ${CASE_NODES[$c]}; do
			printf '%-11s %-11s %-9s %-6s %-15s %-23s %-26s %s\n' "$n" "${N_IP[$n]}" "${N_VIA[$n]}" "${N_TOKEN[$n]}" "$c" \
				"$(k8s_name "$n")" "${N_PROVIDER[$n]:--}" "${N_TAINTS[$n]:--}"
		done
	done
	echo
	echo "selected${HN_E2E_CASES:+ (HN_E2E_CASES=$HN_E2E_CASES)}: $(for c in "${CASES[@]}"; do if want "$c"; then printf '%s ' "$c"; fi; done)"
	echo "booted, in this order: $(wanted_nodes | xargs)"
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
cases) cmd_cases ;;
demo) cmd_demo ;;
scale) cmd_scale ;;
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
*) sed -n '2,/^set -Eeuo/p' "$0" | sed '$d'; exit 2 ;;
esac
