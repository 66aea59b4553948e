# shellcheck shell=bash
# e2e/cases/node-pool.sh: the node-pool path, as an administrator and ACK run it.
# It runs after group batch's joins, on the same control plane, with make release done.
#
#   1. stand-ins of an unpatched cluster: calico-node without the affinity (real
#      DaemonSet controller: it has pods on the cloud nodes), eni-config,
#      ack-agent-config with no script, and a never-expiring kubeadm token
#   2. `hybridnode cluster check`: the network mode read (manifest Calico, BGP),
#      FAIL on the Calico affinity (with the remedy), WARN naming the TTL-0
#      token's id, never a secret
#   3. `setup --dry-run`: a diff, and no object changes (resourceVersions)
#   4. `setup --script-url`: check passes; the token's expiry is the TTL; a second
#      setup changes nothing; Calico's pods leave the cloud nodes
#   5. a stock node (no /etc/hybridnode, no HYBRIDNODE_*, ACK's four variables)
#      runs `curl -fsSL <addNodeScriptPath> | bash` and becomes Ready
#   6. `rotate --grace`: a second stock node joins with the new token; the old
#      token is deleted by kube-controller-manager's tokencleaner after the grace
#   7. no token in any log, report, command line or file but the 0600 drop-in

# stock instances of a node pool: nothing of hybridnode on them, only ACK's four
# variables; they run the script `hybridnode cluster setup` put at addNodeScriptPath
define_node hn-node-8 "$LAN.18" cn-hangzhou.i-e2epool08 "cn-hangzhou.$LAN.18" "$CLOUD_LABELS,e2e.hybridnode.io/install=pool" "workload=ack:NoSchedule" none pool
define_node hn-node-9 "$LAN.19" cn-hangzhou.i-e2epool09 "cn-hangzhou.$LAN.19" "$CLOUD_LABELS,e2e.hybridnode.io/install=pool" "" none pool
POOL_NODES=(hn-node-8 hn-node-9)
register_case node-pool

POOL=np-e2e
POOL_DIR=$RUN/pool                      # the administrator's side: outputs, node config
POOL_SCRIPT=$RUN/dist/pool/add-node-$POOL.sh   # the "private bucket": served by the release server
POOL_SCRIPT_URL=$DIST_URL/pool/add-node-$POOL.sh
POOL_GRACE=15

# hc ARGS...: hybridnode-cluster from the release (it knows the release URL it
# was built for), as the administrator runs it, against the test cluster.
hc() { nsx "$RUN/dist/hybridnode-cluster-linux-amd64" --kubeconfig "$RUN/cp/admin.conf" "$@"; }
pool_flags() {
	echo --onprem-cni kube-system/calico-node --cloud-cni kube-system/terway --node-pool "$POOL" \
		--vpc-cidr "$LAN.0/24" --artifact-url "http://$GW:$ART_PORT/"
}
pool_setup_flags() {
	echo --script-out "$POOL_SCRIPT" --script-url "$POOL_SCRIPT_URL" --token-ttl 2h --node-config "$POOL_DIR/node-config.yaml"
}
# pool_run NAME CMD...: CMD's stdout+stderr in $POOL_DIR/NAME.out, its exit code in $POOL_RC
pool_run() {
	local name=$1; shift
	POOL_RC=0
	"$@" >"$POOL_DIR/$name.out" 2>&1 || POOL_RC=$?
	log "$name: exit $POOL_RC ($POOL_DIR/$name.out)"
}
# pj NAME CHECK [FIELD]: a field of one check in a `check -o json` output
pj() { jq -r --arg c "$2" --arg f "${3:-status}" '.checks[] | select(.name == $c) | .[$f] // ""' "$POOL_DIR/$1.out" 2>/dev/null; }

# pool_snapshot: every object setup may touch or must not touch, with its
# resourceVersion (DaemonSets also by generation), and the token Secrets.
pool_snapshot() {
	{
		kc -n kube-system get ds calico-node terway -o jsonpath='{range .items[*]}ds/{.metadata.name} rv={.metadata.resourceVersion} gen={.metadata.generation}{"\n"}{end}'
		kc -n kube-system get cm eni-config ack-agent-config kubeadm-config -o jsonpath='{range .items[*]}cm/{.metadata.name} rv={.metadata.resourceVersion}{"\n"}{end}'
		kc -n kube-public get cm cluster-info -o jsonpath='cm/cluster-info rv={.metadata.resourceVersion}{"\n"}'
		kc -n kube-system get secrets --field-selector type=bootstrap.kubernetes.io/token -o jsonpath='{range .items[*]}secret/{.metadata.name} rv={.metadata.resourceVersion}{"\n"}{end}'
	} | sort
}
# ds_settled NAME: its controller has caught up (no status write pending)
ds_settled() {
	local out og g nr d u
	out=$(kc -n kube-system get ds "$1" -o jsonpath='{.status.observedGeneration} {.metadata.generation} {.status.numberReady} {.status.desiredNumberScheduled} {.status.updatedNumberScheduled}') || return 1
	read -r og g nr d u <<<"$out"
	[[ -n $og && $og == "$g" && ${nr:-0} == "${d:-0}" && ${u:-0} == "${d:-0}" ]]
}
pool_ds_settled() { ds_settled calico-node && ds_settled terway; }
# pool_tokens: "id expiration" of the pool's token Secrets
pool_tokens() {
	kc -n kube-system get secrets -l "hybridnode.io/node-pool=$POOL" -o json |
		jq -r '.items[] | "\(.data["token-id"] | @base64d) \(.data.expiration // "" | @base64d)"' | sort -k2
}
# remember_secret ID: the token's secret half joins the leak patterns (0600)
remember_secret() {
	local s; s=$(kc -n kube-system get secret "bootstrap-token-$1" -o jsonpath='{.data.token-secret}' | base64 -d) || true
	# never an empty line: as a grep -F pattern it would match everything
	if [[ -n $s ]]; then (umask 077; printf '%s\n' "$s" >>"$RUN/token.secret"); else fail "token $1: no secret to scan for"; fi
}
# cloud_node_names: Nodes labelled alibabacloud.com/external=true
cloud_node_names() { kc get nodes -l alibabacloud.com/external=true -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | sort; }
ds_pods_on_cloud_nodes() { comm -12 <(ds_pod_nodes calico-node | tr , '\n' | sort) <(cloud_node_names) | paste -sd, || true; }
no_calico_on_cloud() { [[ -z $(ds_pods_on_cloud_nodes) ]]; }
has_calico_on_cloud() { [[ -n $(ds_pods_on_cloud_nodes) ]]; }
token_gone() { ! kc -n kube-system get secret "bootstrap-token-$1" >/dev/null 2>&1; }

case_node_pool() {
	local t=$EPOCHREALTIME before after id1 id2 exp now
	mkdir -p "$POOL_DIR" "$(dirname "$POOL_SCRIPT")"
	log "node-pool case: cluster check/setup/rotate, stock nodes ${POOL_NODES[*]} through addNodeScriptPath"
	if ! assert_release || [[ ! -x $RUN/dist/hybridnode-cluster-linux-amd64 ]]; then
		fail "node-pool case not run: make release gave no hybridnode-cluster-linux-amd64"; return
	fi
	lan_node_settings >"$POOL_DIR/node-config.yaml"

	# 1. an unpatched cluster
	apply_manifest calico-node-unpatched.yaml
	(umask 077; kadm token create --ttl 0 --description "e2e: a never-expiring token, as ACK's docs make" --kubeconfig "$RUN/cp/admin.conf" >"$POOL_DIR/ttl0.token" 2>>"$RUN/logs/kubeadm-init.log")
	local ttl0; ttl0=$(cut -d. -f1 "$POOL_DIR/ttl0.token")
	(umask 077; cut -d. -f2 "$POOL_DIR/ttl0.token" >>"$RUN/token.secret")
	wait_for "calico-node (unpatched) running on the cloud nodes too" 90 has_calico_on_cloud || true
	check "before setup: the unpatched calico-node has pods on cloud nodes ($(ds_pods_on_cloud_nodes))" has_calico_on_cloud

	# 2. check finds what is missing
	# shellcheck disable=SC2046 # pool_flags is a list of words
	pool_run check-before hc check -o json $(pool_flags)
	expect "cluster check on the unpatched cluster: exit code 8 (a check failed)" 8 "$POOL_RC"
	expect "cluster check: onprem-cni fails on calico-node without the affinity ($(pj check-before onprem-cni evidence))" fail "$(pj check-before onprem-cni)"
	check "cluster check: onprem-cni's remedy is hybridnode cluster setup" grep -q 'hybridnode cluster setup' <<<"$(pj check-before onprem-cni remedy)"
	expect "cluster check: add-node-script fails with no addNodeScriptPath" fail "$(pj check-before add-node-script)"
	expect "cluster check: node-pool-token fails before setup" fail "$(pj check-before node-pool-token)"
	expect "cluster check: network-mode passes on the calico-node stand-in ($(pj check-before network-mode evidence))" pass "$(pj check-before network-mode)"
	check "cluster check: network-mode reads the stand-in (no env, no Calico CRDs) as manifest Calico in BGP mode" \
		grep -q '^calico (manifest), mode bgp: ' <<<"$(pj check-before network-mode evidence)"
	expect "cluster check: cloud-cni (Terway stand-in) passes ($(pj check-before cloud-cni evidence))" pass "$(pj check-before cloud-cni)"
	expect "cluster check: eni-config passes ($(pj check-before eni-config evidence))" pass "$(pj check-before eni-config)"
	expect "cluster check: pod-subnet passes against VPC $LAN.0/24" pass "$(pj check-before pod-subnet)"
	expect "cluster check: token-expiry warns about the TTL-0 token" warn "$(pj check-before token-expiry)"
	check "cluster check: the warning names the TTL-0 token's id $ttl0" grep -q "$ttl0" <<<"$(pj check-before token-expiry evidence)"
	check "cluster check prints neither eni-config's AccessKey secret nor any token secret" \
		bash -c "! grep -q e2eFakeAccessSecretNeverPrinted '$POOL_DIR/check-before.out' && ! grep -qF -f '$RUN/token.secret' '$POOL_DIR/check-before.out'"
	# the same through the node binary's `hybridnode cluster`, in text
	# shellcheck disable=SC2046
	pool_run check-text nsx "$RUN/dist/hybridnode-linux-amd64" cluster check --kubeconfig "$RUN/cp/admin.conf" $(pool_flags)
	expect "hybridnode cluster check (runs hybridnode-cluster beside it): exit code 8" 8 "$POOL_RC"
	check "hybridnode cluster check prints the FAIL line for onprem-cni" grep -qE '^FAIL +onprem-cni ' "$POOL_DIR/check-text.out"

	# 3. setup --dry-run touches nothing
	wait_for "DaemonSets settled" 60 pool_ds_settled || true
	before=$(pool_snapshot)
	# shellcheck disable=SC2046
	pool_run setup-dry-run hc setup --dry-run $(pool_flags) $(pool_setup_flags)
	after=$(pool_snapshot)
	expect "cluster setup --dry-run: exit code" 0 "$POOL_RC"
	expect "cluster setup --dry-run changed no object (resourceVersions of calico-node, terway, eni-config, ack-agent-config, kubeadm-config, cluster-info, token Secrets)" "$before" "$after"
	check "cluster setup --dry-run shows the affinity it would add as a diff" grep -qE '^\+.*alibabacloud.com/external' "$POOL_DIR/setup-dry-run.out"
	check "cluster setup --dry-run wrote no script" test ! -e "$POOL_SCRIPT"

	# 4. setup, then check passes; a second setup changes nothing
	now=$(date +%s)
	# shellcheck disable=SC2046
	pool_run setup hc setup $(pool_flags) $(pool_setup_flags)
	expect "cluster setup: exit code" 0 "$POOL_RC"
	sed 's/^/    | /' "$POOL_DIR/setup.out" >&2
	check "cluster setup wrote the node script, mode 0600" test "$(stat -c %a "$POOL_SCRIPT" 2>/dev/null)" = 600
	expect "cluster setup set addNodeScriptPath" "$POOL_SCRIPT_URL" "$(kc -n kube-system get cm ack-agent-config -o jsonpath='{.data.addNodeScriptPath}')"
	read -r id1 exp < <(pool_tokens | tail -1)
	if [[ -z ${id1:-} ]]; then fail "cluster setup made no bootstrap token for node pool $POOL"; return; fi
	remember_secret "$id1"
	local d; d=$(( $(date -d "$exp" +%s) - now ))
	check "the pool's token $id1 expires in the requested 2h (in ${d}s)" test "$d" -ge 7080 -a "$d" -le 7260
	check "the token's description names hybridnode and the node pool" \
		grep -q "hybridnode.*$POOL" <<<"$(kc -n kube-system get secret "bootstrap-token-$id1" -o jsonpath='{.data.description}' | base64 -d)"
	expect "the token carries kubeadm's node group" system:bootstrappers:kubeadm:default-node-token \
		"$(kc -n kube-system get secret "bootstrap-token-$id1" -o jsonpath='{.data.auth-extra-groups}' | base64 -d)"
	check "the node script carries the settings block, and no other token" \
		bash -c "grep -q '^# >>> hybridnode node-pool settings' '$POOL_SCRIPT' && grep -q '^token: $id1\.' '$POOL_SCRIPT' && [[ \$(grep -c '^token: ' '$POOL_SCRIPT') == 1 ]]"
	check "cluster setup printed no token secret" bash -c "! grep -qF -f '$RUN/token.secret' '$POOL_DIR/setup.out'"
	wait_for "calico-node gone from the cloud nodes (DaemonSet controller)" 90 no_calico_on_cloud || true
	expect "after setup: calico-node pods on cloud nodes (real DaemonSet controller)" "" "$(ds_pods_on_cloud_nodes)"
	check "after setup: calico-node still runs on the on-prem node $(k8s_name idc-node-4)" grep -q "$(k8s_name idc-node-4)" <<<"$(ds_pod_nodes calico-node)"
	# shellcheck disable=SC2046
	pool_run check-after hc check -o json $(pool_flags)
	expect "cluster check after setup: exit code 0 ($(jq -r '.summary | to_entries | map("\(.value) \(.key)") | join(", ")' "$POOL_DIR/check-after.out" 2>/dev/null))" 0 "$POOL_RC"
	local c
	for c in network-mode onprem-cni cloud-cni eni-config pod-subnet node-pool-token cluster-info artifacts; do
		expect "cluster check after setup: $c ($(pj check-after "$c" evidence))" pass "$(pj check-after "$c")"
	done
	expect "cluster check after setup: add-node-script warns about http:// ($(pj check-after add-node-script evidence))" warn "$(pj check-after add-node-script)"
	kadm token delete "$ttl0" --kubeconfig "$RUN/cp/admin.conf" >/dev/null 2>&1 || true

	wait_for "DaemonSets settled" 60 pool_ds_settled || true
	before=$(pool_snapshot); local sum1 mt1; sum1=$(sha256 "$POOL_SCRIPT"); mt1=$(stat -c %Y.%y "$POOL_SCRIPT")
	# shellcheck disable=SC2046
	pool_run setup-again hc setup $(pool_flags) $(pool_setup_flags)
	after=$(pool_snapshot)
	expect "second cluster setup: exit code" 0 "$POOL_RC"
	expect "second cluster setup changed no object" "$before" "$after"
	expect "second cluster setup left the script as it was (content and mtime)" "$sum1 $mt1" "$(sha256 "$POOL_SCRIPT") $(stat -c %Y.%y "$POOL_SCRIPT")"
	check "second cluster setup says it changed nothing" grep -qi 'no changes' "$POOL_DIR/setup-again.out"

	# 5. a stock node joins through addNodeScriptPath alone
	local n1=${POOL_NODES[0]} n2=${POOL_NODES[1]}
	# shellcheck disable=SC2034 # read by join_command
	POOL_URL=$(kc -n kube-system get cm ack-agent-config -o jsonpath='{.data.addNodeScriptPath}')
	pool_join "$n1" "$id1"

	# 6. rotate: a new token; the old one expires after the grace
	now=$(date +%s)
	# shellcheck disable=SC2046
	pool_run rotate hc rotate $(pool_flags) $(pool_setup_flags) --grace "${POOL_GRACE}s"
	expect "cluster rotate: exit code" 0 "$POOL_RC"
	sed 's/^/    | /' "$POOL_DIR/rotate.out" >&2
	read -r id2 _ < <(pool_tokens | tail -1)
	if [[ -z ${id2:-} || $id2 == "$id1" ]]; then fail "cluster rotate made no new token (newest: ${id2:-none})"; return; fi
	remember_secret "$id2"
	pass "cluster rotate made a new token $id2"
	check "cluster rotate printed no token secret" bash -c "! grep -qF -f '$RUN/token.secret' '$POOL_DIR/rotate.out'"
	check "the script now carries $id2, not $id1" bash -c "grep -q '^token: $id2\.' '$POOL_SCRIPT' && ! grep -q '$id1' '$POOL_SCRIPT'"
	exp=$(kc -n kube-system get secret "bootstrap-token-$id1" -o jsonpath='{.data.expiration}' 2>/dev/null | base64 -d || true)
	if [[ -n $exp ]]; then
		d=$(( $(date -d "$exp" +%s) - now ))
		check "the old token $id1 now expires within the grace (${d}s <= ${POOL_GRACE}s)" test "$d" -le "$((POOL_GRACE + 2))"
	else
		check "the old token $id1 is gone already" token_gone "$id1"
	fi
	pool_join "$n2" "$id2"
	wait_for "old token $id1 deleted by the tokencleaner" $((POOL_GRACE + 90)) token_gone "$id1" || true
	check "the old token $id1 was deleted after the grace period" token_gone "$id1"
	check "the new token $id2 stays" kc -n kube-system get secret "bootstrap-token-$id2"

	# 7. where the token may be, and where not
	assert_no_token_leak "$n1" "$n2"
	for n in "$n1" "$n2"; do
		local r hits; r=$(node_dir "$n")/root
		# shellcheck disable=SC2015 # || true: no match is no error
		hits=$(cd "$r" && grep -rlF -f "$RUN/token.secret" etc var/lib/hybridnode var/lib/kubelet var/log root tmp usr/local 2>/dev/null | sort | paste -sd' ' || true)
		expect "$n: no file holds a token after the join (not even the node-pool drop-in)" "" "$hits"
	done
	check "no administrator output (check, setup, rotate) holds a token secret" bash -c "! grep -qF -f '$RUN/token.secret' '$POOL_DIR'/*.out"
	print_timings "$n1" "$n2"
	log "node-pool case done in $(elapsed "$t")s"
}

# pool_join NAME TOKEN_ID: the stock node runs addNodeScriptPath as ACK does.
pool_join() {
	local n=$1 id=$2 d r; d=$(node_dir "$1"); r=$d/root
	check "$n: a stock instance (no /etc/hybridnode, no hybridnode binary)" \
		test ! -e "$r/etc/hybridnode" -a ! -e "$r/usr/local/bin/hybridnode" -a ! -e "$r/usr/bin/hybridnode"
	start_cmdline_sampler
	join_node "$n"
	stop_cmdline_sampler
	assert_node "$n"
	assert_ready_and_taints "$n"
	local f=$r/etc/hybridnode/config.d/50-node-pool.yaml
	expect "$n: the node-pool drop-in is mode 0600" 600 "$(stat -c %a "$f" 2>/dev/null)"
	# The join used token $id (the script wrote it, the node joined), then
	# removed it from the drop-in: kubelet has its own credentials.
	check "$n: the drop-in no longer carries token $id (nor any) after the join" not grep -qE "^token:|$id\." "$f"
	check "$n: the drop-in says its token was removed" grep -q '^# token: removed by hybridnode' "$f"
	# ACK runs the script again on a reboot: it writes the token again, and
	# hybridnode, finding the node joined, removes it again.
	join_node "$n" rejoin
	expect "$n: the script run again on the joined node: exit code" 0 "$(cat "$d/rejoin.rc" 2>/dev/null)"
	check "$n: the drop-in carries no token after that run either" not grep -q '^token:' "$f"
	check "$n: init.log says the script wrote the node-pool settings" grep -q '^hybridnode-bootstrap: wrote the node-pool settings' "$r/var/log/acs/init.log"
	local dump; dump=$(in_node "$n" hybridnode config dump 2>&1 || true)
	check "$n: config dump names the drop-in as the source of apiServerEndpoint" \
		grep -qE '^apiServerEndpoint: .* # file /etc/hybridnode/config.d/50-node-pool.yaml$' <<<"$dump"
	expect "$n: kubelet/kubeadm installed at the cluster's version" "$K8S_VERSION" \
		"$(jq -r '.artifacts.kubelet.version // empty' "$r/var/lib/hybridnode/installed.json" 2>/dev/null)"
}
