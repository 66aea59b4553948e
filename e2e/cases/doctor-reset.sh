# shellcheck shell=bash
# e2e/cases/doctor-reset.sh: `hybridnode doctor` on the healthy baked and bare
# nodes (exit 0, no FAIL, only the WARN/SKIP this LAN explains) and on the
# hand-run node (pod-subnet against the VPC CIDR from metadata); then on
# metadata's node: `hybridnode reset --force`, a join while the old Node is
# still Ready (exit 7, kubeadm's refusal), a deleted token (doctor exits 8,
# bootstrap-token FAILs with the remedy), and the rejoin after kubectl delete
# node (one kubeadm attempt, Ready, the provider ID from metadata again).

register_case doctor-reset --needs "metadata baked bare-script"

case_doctor_reset() {
	local n
	for n in "$BAKED" "$BARE"; do
		if joined "$n" && node_ready "$(k8s_name "$n")"; then assert_doctor_healthy "$n"
		else fail "$n: doctor on a healthy joined cloud node: $n is not joined and Ready"; fi
	done
	doctor_run "$MDNODE" metadata HYBRIDNODE_METADATA_ENDPOINT="$MD_URL"
	expect "$MDNODE: doctor on the hand-run node exit code" 0 "$DOC_RC"
	expect "$MDNODE: doctor: pod-subnet checked against the VPC CIDR from metadata ($(doc pod-subnet evidence))" pass "$(doc pod-subnet)"
	if [[ $(cat "$(node_dir "$MDNODE")/join.rc") == 0 ]]; then scenario_reset_token_rejoin "$MDNODE"
	else fail "$MDNODE: reset/token/rejoin not run: its first join failed"; fi
}

# B3 + B2 on NAME (joined by hand with metadata): reset; what a rejoin with the
# same name meets while the old Node is Ready; a deleted token; the rejoin.
scenario_reset_token_rejoin() {
	local n=$1 d r name rc
	d=$(node_dir "$n"); r=$d/root; name=$(k8s_name "$n")
	local menv=(HYBRIDNODE_METADATA_ENDPOINT="$MD_URL")

	log "B3: hybridnode reset --force on $n"
	rc=0; run_bounded 120 in_node "$n" "${menv[@]}" hybridnode reset --force >"$d/reset-1.log" 2>&1 || rc=$?
	expect "$n: hybridnode reset --force exit code" 0 "$rc"
	check "$n: after reset: no kubelet.conf, kubelet and containerd stopped, installed binaries gone, config.yaml kept, no copy of the downloads anywhere" \
		bash -c "[[ ! -e $r/etc/kubernetes/kubelet.conf && ! -e $r/usr/local/bin/kubelet && -f $r/etc/hybridnode/config.yaml && ! -e $r/var/lib/hybridnode/artifacts ]] &&
			! nsenter -t $(node_leader "$n") -a systemctl is-active --quiet kubelet && ! nsenter -t $(node_leader "$n") -a systemctl is-active --quiet containerd"

	# The old Node object is still Ready for ~40 s (node-monitor-grace-period).
	local was_ready=no; node_ready "$name" && was_ready=yes
	doctor_run "$n" reset "${menv[@]}"
	expect "$n: doctor after reset: the bootstrap token is valid" pass "$(doc bootstrap-token)"
	if [[ $was_ready == yes ]]; then
		expect "$n: doctor after reset: node-name FAILs, the Ready Node $name holds the name" fail "$(doc node-name)"
		log "  doctor said: $(doc node-name evidence) | fix: $(doc node-name remedy)"
		log "B3: join again WITHOUT deleting the Node (one kubeadm attempt)"
		local mark; mark=$(wc -l <"$r/var/log/acs/init.log")
		JOIN_EXTRA_ENV=(HYBRIDNODE_JOIN_ATTEMPTS=1)
		join_node "$n" rejoin-taken
		# shellcheck disable=SC2034 # read by join_env
		JOIN_EXTRA_ENV=()
		expect "$n: join while the Ready Node $name exists: exit code 7 (kubeadm join failed)" 7 "$(cat "$d/rejoin-taken.rc")"
		local why; why=$(tail -n +"$((mark + 1))" "$r/var/log/acs/init.log" | grep -o -m1 "a Node with name \"$name\"[^{]*already exists in the cluster[^{]*" | head -1 | sed 's/[[:space:]]*$//')
		if [[ -n $why ]]; then pass "$n: kubeadm refuses the name: $why"; else fail "$n: kubeadm's refusal not in init.log"; fi
		local f left=
		for f in etc/kubernetes/pki/ca.crt etc/kubernetes/bootstrap-kubelet.conf; do [[ -e $r/$f ]] && left+=" /$f"; done
		[[ -n $left ]] && note "$n: a failed hybridnode join (last kubeadm attempt) leaves${left} behind; without hybridnode reset the next join's first kubeadm attempt fails preflight (FileAvailable--etc-kubernetes-*)"
		rc=0; run_bounded 120 in_node "$n" "${menv[@]}" hybridnode reset --force >"$d/reset-2.log" 2>&1 || rc=$?
		expect "$n: hybridnode reset --force after the failed join exit code" 0 "$rc"
	else
		log "B3: the Node $name was already NotReady after the reset: kubeadm would take it over; the 'name taken' case is not exercised"
	fi

	log "B2: a token created, given to $n, then deleted with kubeadm token delete"
	(umask 077; kadm token create --ttl 10m --kubeconfig "$RUN/cp/admin.conf" >"$RUN/token.deleted" 2>>"$RUN/logs/kubeadm-init.log")
	local id; id=$(cut -d. -f1 "$RUN/token.deleted")
	install -m 0600 "$RUN/token.deleted" "$r/etc/hybridnode/token"
	wait_for "cluster-info signed for token $id" 30 cluster_info_signed "$id" || true
	kadm token delete "$id" --kubeconfig "$RUN/cp/admin.conf" >>"$RUN/logs/kubeadm-init.log" 2>&1
	wait_for "cluster-info without token $id's signature" 30 cluster_info_unsigned "$id" || true
	doctor_run "$n" token-deleted "${menv[@]}"
	check "$n: doctor with the deleted token exits non-zero (8)" test "$DOC_RC" == 8
	local ev rem; ev=$(doc bootstrap-token evidence); rem=$(doc bootstrap-token remedy)
	if [[ $(doc bootstrap-token) == fail && $ev == *"$id"* && $ev == *"expired or was deleted"* && $rem == *"kubeadm token create --ttl"* ]]; then
		pass "$n: doctor: bootstrap-token FAIL: $ev | fix: $rem"
	else
		fail "$n: doctor: bootstrap-token [$(doc bootstrap-token)] $ev | fix: $rem"; show_doctor
	fi
	install -m 0600 "$RUN/token" "$r/etc/hybridnode/token"
	doctor_run "$n" token-restored "${menv[@]}"
	expect "$n: doctor with the valid token restored: bootstrap-token" pass "$(doc bootstrap-token)"

	log "B3: kubectl delete node $name, then hybridnode join"
	kc delete node "$name" --wait=true >/dev/null 2>&1 || true
	local mark2; mark2=$(wc -l <"$r/var/log/acs/init.log")
	join_node "$n" rejoin
	expect "$n: hybridnode join after reset exit code" 0 "$(cat "$d/rejoin.rc")"
	local attempts; attempts=$(tail -n +"$((mark2 + 1))" "$r/var/log/acs/init.log" | grep -c 'INFO'$'\t''kubeadm join'$'\t' || true)
	expect "$n: the rejoin needed one kubeadm join attempt" 1 "$attempts"
	if wait_for "Node $name Ready again" 120 node_ready "$name"; then
		pass "$n: Node $name Ready again after reset and join ($(elapsed "$(cat "$d/rejoin.start")")s after the join started)"
	else
		fail "$n: Node $name Ready again after reset and join"
	fi
	expect "$n: rejoined Node's providerID (from metadata again)" "${N_PROVIDER[$n]}" "$(kc get node "$name" -o jsonpath='{.spec.providerID}' 2>/dev/null)"
}
cluster_info_unsigned() { ! cluster_info_signed "$1"; }
