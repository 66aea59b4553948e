# shellcheck shell=bash
# e2e/asserts.sh: the assertions and figures the cases share: a joined
# node (assert_node, assert_ready_and_taints), no token leaked, a workload
# pod, doctor, rendered files against cases/expected, server logs, timings.

# ---------------------------------------------------------------- nodes

node_ready() { [[ $(kc get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]]; }

normalize_taints() {
	local t out=()
	for t in ${1//,/ }; do
		[[ ${t%%:*} == *=* ]] || t="${t%%:*}=:${t#*:}"
		out+=("$t")
	done
	if ((${#out[@]})); then printf '%s\n' "${out[@]}" | sort | paste -sd,; fi
}
no_builtin_taints() {
	[[ -z $(kc get node "$1" -o json | jq -r '.spec.taints[]? | select(.key | startswith("node.kubernetes.io/")) | .key') ]]
}
ds_pod_nodes() {
	kc -n kube-system get pods -l "app=$1" -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort | paste -sd, || true
}
ds_ready() {
	[[ $(kc -n kube-system get ds "$1" -o jsonpath='{.status.numberReady}/{.status.desiredNumberScheduled}') == "$2/$2" ]]
}

# join_and_assert NAME: one node's join under the command-line sampler, then
# the Node as define_node says (assert_node) and Ready with exactly its taints.
join_and_assert() {
	start_cmdline_sampler
	join_node "$1"
	stop_cmdline_sampler
	assert_node "$1"
	assert_ready_and_taints "$1"
}
# expect_plan NAME: before the join, the JoinConfiguration `hybridnode plan`
# shows (token redacted) is cases/expected/join-config.yaml.
expect_plan() {
	plan_join_config "$1" >"$(node_dir "$1")/join-config.yaml"
	expect_file "$1: hybridnode plan's JoinConfiguration (token redacted)" "$1" join-config.yaml "$(node_dir "$1")/join-config.yaml"
}
assert_node() {
	local n=$1 name json kv key want got
	name=$(k8s_name "$n")
	expect "$n: hybridnode join exit code" 0 "$(cat "$(node_dir "$n")/join.rc")"
	# kubeadm join returns after kubelet's TLS bootstrap; kubelet registers
	# the Node just after (seconds later when the control plane is catching up)
	wait_for "Node $name registered" 30 kc get node "$name" || true
	if ! json=$(kc get node "$name" -o json 2>/dev/null); then
		fail "$n: Node $name registered"; return
	fi
	pass "$n: Node $name registered (metadata.name)"
	expect "$n: spec.providerID" "${N_PROVIDER[$n]}" "$(jq -r '.spec.providerID // ""' <<<"$json")"
	for kv in ${N_LABELS[$n]//,/ }; do
		key=${kv%%=*} want=${kv#*=}
		expect "$n: label $key" "$want" "$(jq -r --arg k "$key" '.metadata.labels[$k] // "<unset>"' <<<"$json")"
	done
	if [[ ${N_LABELS[$n]} != *alibabacloud.com/external=true* ]]; then
		expect "$n: no external label" "<unset>" "$(jq -r '.metadata.labels["alibabacloud.com/external"] // "<unset>"' <<<"$json")"
	fi
	check "$n: containerd active" in_node "$n" systemctl is-active --quiet containerd
	check "$n: kubelet active" in_node "$n" systemctl is-active --quiet kubelet
}

# no_node_joined: there were failures and the cluster has no Node at all
no_node_joined() { ((FAILED > 0)) && ! kc get nodes -o name 2>/dev/null | grep -q .; }

# all_ready NODE...: every Node object given is Ready
all_ready() { local n; for n in "$@"; do node_ready "$n" || return 1; done; }

# assert_ready_and_taints NAME...: one bounded wait for all registered Nodes
# (a node that never registered fails at once), then Ready and exact taints.
assert_ready_and_taints() {
	local n names=()
	for n in "$@"; do kc get node "$(k8s_name "$n")" >/dev/null 2>&1 && names+=("$(k8s_name "$n")"); done
	((${#names[@]} == 0)) || wait_for "Nodes Ready: ${names[*]}" 180 all_ready "${names[@]}" || true
	for n in "$@"; do
		local name want got; name=$(k8s_name "$n")
		if node_ready "$name"; then pass "$n: Node Ready"; else fail "$n: Node Ready"; continue; fi
		wait_for "Node $name without node.kubernetes.io/* taints" 30 no_builtin_taints "$name" || true
		want=$(normalize_taints "${N_TAINTS[$n]}")
		got=$(kc get node "$name" -o json | jq -r '[.spec.taints[]? | "\(.key)=\(.value // ""):\(.effect)"] | sort | join(",")')
		expect "$n: exactly the requested taints" "$want" "$got"
	done
}

assert_no_token_leak() {
	local n d f
	for n in "$@"; do
		d=$(node_dir "$n")/root
		if [[ -e $d/etc/hybridnode/kubeadm-join.yaml ]]; then fail "$n: /etc/hybridnode/kubeadm-join.yaml (holds the token) still exists after the join"
		else pass "$n: /etc/hybridnode/kubeadm-join.yaml removed after the join"; fi
		for f in var/log/acs/init.log var/lib/hybridnode/report.json; do
			if [[ ! -f $d/$f ]]; then fail "$n: /$f exists"; continue; fi
			if grep -qF -f "$RUN/token.secret" "$d/$f"; then fail "$n: bootstrap token in /$f"; else pass "$n: no token in /$f"; fi
		done
	done
	local hits; hits=$(sort -u "$RUN/cmdline-hits" | paste -sd';')
	if [[ -n $hits ]]; then fail "bootstrap token in process command lines: $hits"
	else pass "no bootstrap token in any process command line ($(cat "$RUN/sampler.count") samples of /proc/*/cmdline)"; fi
}

assert_workload_pod() {
	local n=$1 pod=${2:-tainted-workload} name ip octet
	name=$(k8s_name "$n"); octet=${N_IP[$n]##*.}
	apply_manifest workload-pod.yaml "$name" "$pod"
	if ! wait_for "pod $pod Running" 120 pod_running "$pod"; then
		kc describe pod "$pod" | tail -15 >&2
		fail "pod $pod tolerating the taints runs on $name"; return
	fi
	expect "pod $pod scheduled onto $name" "$name" "$(kc get pod "$pod" -o jsonpath='{.spec.nodeName}')"
	ip=$(kc get pod "$pod" -o jsonpath='{.status.podIP}')
	check "pod IP $ip is in the node's CNI subnet $POD_PREFIX.$octet.0/24" test "${ip%.*}" == "$POD_PREFIX.$octet"
	expect "kubectl logs of the pod" "hello from $pod" "$(kc logs "$pod" 2>&1 | head -1)"
	expect "kubectl exec into the pod" ok "$(kc exec "$pod" -- echo ok 2>/dev/null)"
}
pod_running() { [[ $(kc get pod "$1" -o jsonpath='{.status.phase}') == Running ]]; }

# ---------------------------------------------------------------- rendered files

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

# ---------------------------------------------------------------- server logs

# http_log NAME IP [FROM_LINE]: the URLs IP asked of server NAME (busybox -vv log)
http_urls() {
	tail -n +"${3:-1}" "$RUN/logs/$1.log" 2>/dev/null | awk -v p="$2:" 'index($0, p) == 1 && /: url:/ {sub(/.*: url:/, ""); print}'
}
log_lines() { wc -l <"$RUN/logs/$1.log" 2>/dev/null || echo 0; }

# ---------------------------------------------------------------- doctor

# doctor_run NAME TAG [VAR=VALUE...]: hybridnode doctor in the node, as text
# and as JSON; exit code in DOC_RC. Bounded.
doctor_run() {
	local n=$1 tag=$2 d; shift 2; d=$(node_dir "$n")
	DOC_RC=0
	run_bounded 60 in_node "$n" "$@" hybridnode doctor >"$d/doctor-$tag.txt" 2>&1 || DOC_RC=$?
	run_bounded 60 in_node "$n" "$@" hybridnode doctor -o json >"$d/doctor-$tag.json" 2>/dev/null || true
	DOC_JSON=$d/doctor-$tag.json DOC_TXT=$d/doctor-$tag.txt
}
# doc CHECK [FIELD]: a field (default status) of a check in the last doctor run
doc() { jq -r --arg c "$1" --arg f "${2:-status}" '.checks[] | select(.name == $c) | .[$f] // ""' "$DOC_JSON" 2>/dev/null; }
show_doctor() { sed 's/^/    | /' "$DOC_TXT" >&2; }

# B1: a healthy joined cloud node: exit 0, no FAIL, only the WARN/SKIP this
# test LAN explains (cgroup v1 host; joined: port 10250 and the token; an IP
# endpoint; no VPC CIDR from ACK; a token, not the token service).
DOCTOR_EXPECTED_NONPASS='warn cgroups|skip port-10250|skip dns|skip bootstrap-token|skip pod-subnet|skip token-service|skip gpu|skip kube-proxy|skip proxy'
assert_doctor_healthy() {
	local n=$1 other summary
	doctor_run "$n" healthy
	summary=$(tail -1 "$DOC_TXT")
	expect "$n: hybridnode doctor exit code on a healthy joined cloud node" 0 "$DOC_RC"
	other=$(jq -r '.checks[] | select(.status != "pass") | "\(.status) \(.name)"' "$DOC_JSON" 2>/dev/null | grep -vxE "$DOCTOR_EXPECTED_NONPASS" | paste -sd, || true)
	if [[ -s $DOC_JSON && -z $other ]]; then
		pass "$n: doctor: no FAIL, WARN/SKIP only where expected ($summary)"
	else
		fail "$n: doctor: unexpected results [$other] ($summary)"; show_doctor
	fi
	expect "$n: doctor: cni sees only Terway's configuration" pass "$(doc cni)"
	expect "$n: doctor: node-name sees the Node Ready" pass "$(doc node-name)"
}

# ---------------------------------------------------------------- timings

# print_timings NAME...: per node, seconds after hybridnode started (report.json
# .started): containerd ready (report milestone), kubelet active (systemd),
# Node registered and Node Ready (API watch), hybridnode exit (report .finished).
print_timings() {
	local n d rep t0 c k r y e b
	printf '%-11s %-23s %6s %10s %8s %11s %6s %6s  %s\n' node name boot containerd kubelet registered Ready exit "install/containerd/kubelet/join phases" >&2
	for n in "$@"; do
		d=$(node_dir "$n"); rep=$d/root/var/lib/hybridnode/report.json
		[[ -f $rep ]] || { log "$n: no report.json"; continue; }
		t0=$(ts "$(jq -r .started "$rep")")
		b=$(rel "$(cat "$d/boot.start")" "$t0")
		c=$(ts "$(jq -r '.milestones.containerdReady // empty' "$rep")")
		k=$(unit_active_time "$n" kubelet.service || true)
		r=$(node_event_time "$(k8s_name "$n")" || true)
		y=$(node_event_time "$(k8s_name "$n")" True || true)
		e=$(ts "$(jq -r '.finished // empty' "$rep")")
		printf '%-11s %-23s %6s %10s %8s %11s %6s %6s  %s\n' "$n" "$(k8s_name "$n")" "$b" \
			"$(rel "$t0" "$c")" "$(rel "$t0" "$k")" "$(rel "$t0" "$r")" "$(rel "$t0" "$y")" "$(rel "$t0" "$e")" \
			"$(jq -r '[.phases[] | select(.name == ("install","containerd","kubelet","join")) | (.seconds * 10 | round / 10 | tostring)] | join("/")' "$rep")" >&2
	done
	log "boot: node created -> hybridnode started; other columns: seconds after hybridnode started"
}
# ts RFC3339: epoch seconds (empty in, empty out)
ts() { if [[ -n ${1:-} ]]; then date -d "$1" +%s.%N; fi; }
rel() { if [[ -n ${2:-} ]]; then awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; else echo -; fi; }

# print_join_figures NAME...: seconds after the join was started (ACK running
# addNodeScriptPath, or the hand run): hybridnode started (report), install
# phase, containerd ready, kubelet active, Node registered, Ready, exit.
print_join_figures() {
	local n d rep t0 h c k r y e via
	printf '%-10s %-9s %-23s %10s %8s %10s %8s %11s %6s %6s  %s\n' node via name hybridnode install containerd kubelet registered Ready exit "install/containerd/kubelet/join phases" >&2
	for n in "$@"; do
		d=$(node_dir "$n"); rep=$d/root/var/lib/hybridnode/report.json
		[[ -f $rep && -f $d/join.start ]] || { log "$n: no report.json"; continue; }
		t0=$(cat "$d/join.start")
		h=$(ts "$(jq -r .started "$rep")")
		c=$(ts "$(jq -r '.milestones.containerdReady // empty' "$rep")")
		k=$(unit_active_time "$n" kubelet.service || true)
		r=$(node_event_time "$(k8s_name "$n")" || true)
		y=$(node_event_time "$(k8s_name "$n")" True || true)
		e=$(cat "$d/join.end")
		via=${N_VIA[$n]}; [[ $n == "${BAKED:-}" ]] && via=baked
		printf '%-10s %-9s %-23s %10s %8s %10s %8s %11s %6s %6s  %s\n' "$n" "$via" "$(k8s_name "$n")" \
			"$(rel "$t0" "$h")" "$(jq -r '.phases[] | select(.name == "install") | (.seconds * 10 | round / 10 | tostring)' "$rep")" \
			"$(rel "$t0" "$c")" "$(rel "$t0" "$k")" "$(rel "$t0" "$r")" "$(rel "$t0" "$y")" "$(rel "$t0" "$e")" \
			"$(jq -r '[.phases[] | select(.name == ("install","containerd","kubelet","join")) | (.seconds * 10 | round / 10 | tostring)] | join("/")' "$rep")" >&2
		[[ -n $y ]] && rel "$t0" "$y" >"$d/start-to-ready"
		jq -r '.phases[] | select(.name == "install") | .seconds' "$rep" >"$d/install-seconds"
	done
	log "columns: seconds after the join was started (ACK running addNodeScriptPath, or the hand run); install: the install phase's own duration"
}
