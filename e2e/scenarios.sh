# shellcheck shell=bash
# e2e/scenarios.sh: the distribution and troubleshooting scenarios of the
# real-cluster harness, run by e2e/run.sh test after the join assertions, on
# the same control plane. Sourced after the harness (lib/, release.sh, asserts.sh).
#
#   release   `make release BASE_URL=http://10.77.0.1:8081` (background, from the start),
#             dist/ served by a second busybox httpd on :8081
#   baked     hn-node-5: the .deb (dpkg -i), /etc/hybridnode/config.yaml, `hybridnode install`,
#             the README's clean-up, power off and boot again, then add-node.sh | bash
#   bare      hn-node-6: curl -fsSL <dist>/add-node.sh | bash, as ACK runs addNodeScriptPath
#   metadata  hn-node-7: hybridnode join by hand, no ALIBABA_CLOUD_*, a fake instance
#             metadata service on :8082
#   doctor    healthy cloud nodes; reset, a deleted token, a Ready Node with the same name,
#             rejoin; the API server stopped (last), restarted

# ---------------------------------------------------------------- A1: bake an image

# bake_node NAME: the image build, in the background; results in $d/bake.results.
# As the README's Install section says: the package, the image's config, `hybridnode
# install`, the node-specific state removed; then the instance is powered off and
# booted again, as a new instance made from the image would boot.
bake_node() {
	local n=$1 d r res deb t rc=0
	d=$(node_dir "$n"); r=$d/root; res=$d/bake.results
	: >"$res"
	if ! wait_release; then
		record "$res" fail "$n: bake: no .deb (make release failed or took over ${RELEASE_TIMEOUT}s: $RUN/logs/make-release.log)"
		return 0
	fi
	deb=$(compgen -G "$RUN/dist/hybridnode_*_amd64.deb" | head -1)
	cp "$deb" "$r/root/"
	t=$EPOCHREALTIME
	run_bounded 120 in_node "$n" dpkg -i "/root/${deb##*/}" >"$d/dpkg.log" 2>&1 || rc=$?
	echo "dpkg $(elapsed "$t")" >"$d/bake.times"
	rm -f "$r/root/${deb##*/}"
	if ((rc != 0)); then record "$res" fail "$n: dpkg -i ${deb##*/} exited $rc: $(tail -2 "$d/dpkg.log" | paste -sd' ')"; return 0; fi
	if grep -q 'nothing started' "$d/dpkg.log" && [[ ! -e $r/usr/local/bin/kubelet && ! -e $r/lib/systemd/system/containerd.service ]]; then
		record "$res" pass "$n: dpkg -i ${deb##*/}: installed, nothing started ($(grep -m1 '^hybridnode:' "$d/dpkg.log" | cut -c1-60)...)"
	else
		record "$res" fail "$n: dpkg -i ${deb##*/}: the package should install /usr/bin/hybridnode and start nothing: $(tail -2 "$d/dpkg.log" | paste -sd' ')"
	fi
	if [[ $(sha256 "$r/usr/bin/hybridnode") == "$(sha256 "$RUN/dist/hybridnode-linux-amd64")" ]]; then
		record "$res" pass "$n: /usr/bin/hybridnode from the .deb is the release's hybridnode-linux-amd64 (same sha256)"
	else
		record "$res" fail "$n: /usr/bin/hybridnode from the .deb is not the release's hybridnode-linux-amd64"
	fi

	# the image's configuration, as the README says: endpoint, CA pin, token
	# file, no identity, and no artifactURL (only the bake is given one)
	write_node_config "$n"
	sed -i '/^artifactURL:/d' "$r/etc/hybridnode/config.yaml"
	t=$EPOCHREALTIME; rc=0
	run_bounded 300 in_node "$n" /bin/sh -c "mkdir -p /var/log/acs && HYBRIDNODE_ARTIFACT_URL=http://$GW:$ART_PORT/ exec hybridnode install >>/var/log/acs/bake.log 2>&1" || rc=$?
	echo "install $(elapsed "$t")" >>"$d/bake.times"
	cp "$r/var/lib/hybridnode/report.json" "$d/bake-report.json" 2>/dev/null || true
	if ((rc != 0)); then record "$res" fail "$n: hybridnode install exited $rc: $(tail -2 "$r/var/log/acs/bake.log" | paste -sd' ')"; return 0; fi
	record "$res" pass "$n: hybridnode install (the bake) exit code 0, without any ALIBABA_CLOUD_* variable"
	if [[ $(jq -r '.versions.kubernetes // ""' "$r/var/lib/hybridnode/installed.json" 2>/dev/null) == "$K8S_VERSION" ]]; then
		record "$res" pass "$n: /var/lib/hybridnode/installed.json records kubernetes $K8S_VERSION"
	else
		record "$res" fail "$n: /var/lib/hybridnode/installed.json does not record kubernetes $K8S_VERSION"
	fi
	local urls; urls=$(http_urls artifacts "${N_IP[$n]}" | paste -sd' ')
	if [[ $urls == *"/kubernetes/$K8S_VERSION/bin/linux/amd64/kubelet"* ]]; then
		record "$res" pass "$n: the bake downloaded kubelet from the artifact server (the log sees this node)"
	else
		record "$res" fail "$n: the artifact server's log shows no kubelet download by the bake: [$urls]"
	fi

	# node-specific state, as the README says
	cp "$r/etc/machine-id" "$d/machine-id.bake"
	rc=0
	in_node "$n" /bin/sh -c 'rm -f /etc/kubernetes/kubelet.conf; rm -rf /etc/kubernetes/pki /var/lib/kubelet/pki; rm -f /var/lib/hybridnode/report.json; truncate -s 0 /etc/machine-id' || rc=$?
	if ((rc == 0)) && [[ ! -e $r/etc/kubernetes/kubelet.conf && ! -e $r/var/lib/kubelet/pki && ! -s $r/etc/machine-id ]]; then
		record "$res" pass "$n: image cleaned: no kubelet.conf, no kubelet PKI, no report.json, empty /etc/machine-id"
	else
		record "$res" fail "$n: image clean-up (exit $rc)"
	fi

	# a new instance from the image
	t=$EPOCHREALTIME
	reboot_node "$n"
	if ! wait_node_running "$n"; then record "$res" fail "$n: did not boot again after the bake"; return 0; fi
	echo "reboot $(elapsed "$t")" >>"$d/bake.times"
	local mid; mid=$(cat "$r/etc/machine-id" 2>/dev/null)
	if [[ -n $mid && $mid != "$(cat "$d/machine-id.bake")" ]]; then
		record "$res" pass "$n: booted from the image with a new machine-id"
	else
		record "$res" fail "$n: machine-id after boot [$mid], at bake time [$(cat "$d/machine-id.bake")]"
	fi
	if in_node "$n" systemctl is-active --quiet containerd; then
		record "$res" pass "$n: containerd (enabled by the bake) running after boot"
	else
		record "$res" fail "$n: containerd not running after boot: $(in_node "$n" systemctl is-active containerd)"
	fi
}

start_bake() {
	local n=$1
	log "baking $n in the background: dpkg -i, hybridnode install, clean-up, power off, boot"
	(
		trap - ERR
		set +e
		bake_node "$n"
	) &
	BAKE_PID=$!
}
wait_bake() {
	local n=$1
	if [[ -n ${BAKE_PID:-} ]]; then
		local deadline=$((SECONDS + 600))
		while kill -0 "$BAKE_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
		if kill -0 "$BAKE_PID" 2>/dev/null; then
			fail "$n: the bake did not finish in 600s"; kill_tree "$BAKE_PID"
		fi
		wait "$BAKE_PID" 2>/dev/null || true
		BAKE_PID=
	fi
	replay_results "$(node_dir "$n")/bake.results"
}

# ---------------------------------------------------------------- A1, A2, B5: the joins

# assert_script_joins BAKED BARE: what the add-node.sh runs show.
assert_script_joins() {
	local baked=$1 bare=$2 db dr ib ir sum
	db=$(node_dir "$baked"); dr=$(node_dir "$bare")
	ib=$db/root/var/log/acs/init.log; ir=$dr/root/var/log/acs/init.log
	sum=$(sha256 "$RUN/dist/hybridnode-linux-amd64")

	# baked: the script takes /usr/bin/hybridnode, downloads nothing
	check "$baked: add-node.sh used the baked /usr/bin/hybridnode (sha256 verified)" \
		grep -q '^hybridnode-bootstrap: using /usr/bin/hybridnode: .*sha256 verified' "$ib"
	local got; got=$(http_urls dist "${N_IP[$baked]}" | sort | uniq -c | awk '{print $2 "x" $1}' | paste -sd' ')
	expect "$baked: asked the release server for add-node.sh only" "/add-node.shx1" "$got"
	got=$(http_urls artifacts "${N_IP[$baked]}" "$(cat "$db/artifacts.mark")" | sort -u | paste -sd' ')
	expect "$baked: asked the artifact server for nothing during the boot-time join (no artifactURL: the image's record is enough)" "" "$got"
	check "$baked: the install phase used the binaries recorded at bake time (each sha256 checked)" \
		grep -q 'using installed binaries' "$ib"

	# bare: the script downloads the release's binary, checks it, installs it
	check "$bare: add-node.sh downloaded and installed /usr/local/bin/hybridnode (sha256 verified)" \
		grep -q '^hybridnode-bootstrap: installed /usr/local/bin/hybridnode: .*sha256 verified' "$ir"
	got=$(http_urls dist "${N_IP[$bare]}" | sort | uniq -c | awk '{print $2 "x" $1}' | paste -sd' ')
	expect "$bare: asked the release server for add-node.sh and hybridnode-linux-amd64, once each" "/add-node.shx1 /hybridnode-linux-amd64x1" "$got"
	expect "$bare: /usr/local/bin/hybridnode is the release's binary" "$sum" "$(sha256 "$dr/root/usr/local/bin/hybridnode" 2>/dev/null)"
	check "$bare: add-node.sh left no temporary directory in the node's /tmp" in_node "$bare" /bin/sh -c '! ls -d /tmp/hybridnode-bootstrap.* >/dev/null 2>&1'
}

# assert_metadata_join NAME: Node name and provider ID came from the fake
# metadata service, and config dump says so.
assert_metadata_join() {
	local n=$1 dump d; d=$(node_dir "$n")
	dump=$(in_node "$n" HYBRIDNODE_METADATA_ENDPOINT="$MD_URL" hybridnode config dump 2>&1) || true
	echo "$dump" >"$d/config-dump.txt"
	local k want
	for k in "providerID: ${N_PROVIDER[$n]}" "nodeName: ${N_NAME[$n]}" "vpcCIDR: $LAN.0/24"; do
		if grep -qE "^${k//./\\.} +# metadata$" <<<"$dump"; then pass "$n: config dump: $k  # metadata"
		else fail "$n: config dump lacks '$k  # metadata': $(grep -E "^${k%%:*}:" <<<"$dump")"; fi
	done
	want="/latest/api/token /latest/meta-data/instance-id /latest/meta-data/private-ipv4 /latest/meta-data/region-id /latest/meta-data/vpc-cidr-block"
	expect "$n: asked the metadata service for the token (refused: 501), region-id, instance-id, private-ipv4, vpc-cidr-block" \
		"$want" "$(http_urls metadata "${N_IP[$n]}" | sort -u | paste -sd' ')"
	# (the gateway is the harness's own readiness probe)
	local others; others=$(awk '/: url:/ {sub(/:[0-9]+: url:.*/, ""); print}' "$RUN/logs/metadata.log" | sort -u | grep -vxF -e "${N_IP[$n]}" -e "$GW" | paste -sd' ' || true)
	expect "no other node asked the metadata service (ACK's variables set, or no endpoint and no ECS DMI)" "" "$others"
}

print_bake_figures() {
	local n=$1 d; d=$(node_dir "$n")
	[[ -f $d/bake.times ]] || return 0
	log "FIGURE bake of $n: $(awk '{printf "%s%s %ss", (NR > 1 ? ", " : ""), $1, $2}' "$d/bake.times") (make release: $(cat "$RUN/release.seconds" 2>/dev/null || echo ?)s, in the background)"
	[[ -f $d/bake-report.json ]] &&
		log "bake of $n: hybridnode install phases $(jq -r '[.phases[] | "\(.name) \(.seconds * 10 | round / 10)s"] | join(", ")' "$d/bake-report.json")"
}

# compare_baked_bare BAKED BARE: baked against bare, the figure the performance work tracks
compare_baked_bare() {
	local b=$1 r=$2 db dr
	db=$(node_dir "$b"); dr=$(node_dir "$r")
	[[ -f $db/start-to-ready && -f $dr/start-to-ready ]] || { log "baked vs bare: no figures (a node was not Ready)"; return 0; }
	log "FIGURE start -> Ready: baked $b $(cat "$db/start-to-ready")s (install phase $(printf '%.2f' "$(cat "$db/install-seconds")")s) vs bare $r $(cat "$dr/start-to-ready")s (install phase $(printf '%.2f' "$(cat "$dr/install-seconds")")s)"
}

# ---------------------------------------------------------------- B: doctor

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
