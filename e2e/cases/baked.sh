# shellcheck shell=bash
# e2e/cases/baked.sh: a node from a baked image, hn-node-5. In the background
# from the start (start_case_baked), as the README's Install section says: the
# release's .deb with dpkg -i, /etc/hybridnode/config.yaml (no artifactURL),
# `hybridnode install --prepull <the cloud CNI DaemonSet's image>` with no
# ALIBABA_CLOUD_*, the node-specific state removed,
# power off and boot again (a new machine-id, containerd up). Then, in a
# group of its own (a real instance has its own cores: its figure is not
# that of three nodes sharing two), the boot-time join:
# `curl -fsSL <dist>/add-node.sh | bash` with ACK's variables. The script used
# /usr/bin/hybridnode (sha256 verified), asked the release server for add-node.sh
# only and the artifact server for nothing; the install phase used the binaries
# recorded at bake time.

BAKED=hn-node-5
# baked image: .deb + `hybridnode install`, then add-node.sh at boot finds /usr/bin/hybridnode
define_node hn-node-5 "$LAN.15" cn-hangzhou.i-e2e0005 "cn-hangzhou.$LAN.15" "$CLOUD_LABELS,e2e.hybridnode.io/install=baked" "" file script
register_case baked --group baked

start_case_baked() { start_bake "$BAKED"; }   # in the background, while the first cases run

# join_case_baked: make release's outcome, the bake's; the boot-time join
# when both are there
join_case_baked() {
	assert_release || true
	wait_bake "$BAKED"
	if [[ $RELEASE_OK != yes ]]; then fail "$BAKED: not joined: make release failed"
	elif grep -q '^fail' "$(node_dir "$BAKED")/bake.results"; then fail "$BAKED: boot-time join not run: the bake failed"
	else
		echo $(($(log_lines artifacts) + 1)) >"$(node_dir "$BAKED")/artifacts.mark"
		group_join "$BAKED"
	fi
}

case_baked() {
	if joined "$BAKED"; then assert_baked_script_join "$BAKED"; fi
}

# ---------------------------------------------------------------- the bake

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
	run_bounded 300 in_node "$n" /bin/sh -c "mkdir -p /var/log/acs && HYBRIDNODE_ARTIFACT_URL=http://$GW:$ART_PORT/ exec hybridnode install --prepull $BUSYBOX_IMAGE >>/var/log/acs/bake.log 2>&1" || rc=$?
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
	# the bake's --prepull: the cloud CNI DaemonSet's image (the terway
	# stand-in's), there before the node registers
	if in_node "$n" crictl images -q "$BUSYBOX_IMAGE" 2>/dev/null | grep -q .; then
		record "$res" pass "$n: $BUSYBOX_IMAGE (terway's image, --prepull at bake) in containerd after boot"
	else
		record "$res" fail "$n: $BUSYBOX_IMAGE not in containerd after boot (hybridnode install --prepull)"
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

# ---------------------------------------------------------------- the boot-time join

# assert_baked_script_join BAKED: what the add-node.sh run shows: the script
# took /usr/bin/hybridnode, downloaded nothing
assert_baked_script_join() {
	local baked=$1 db ib
	db=$(node_dir "$baked")
	ib=$db/root/var/log/acs/init.log
	check "$baked: add-node.sh used the baked /usr/bin/hybridnode (sha256 verified)" \
		grep -q '^hybridnode-bootstrap: using /usr/bin/hybridnode: .*sha256 verified' "$ib"
	local got; got=$(http_urls dist "${N_IP[$baked]}" | sort | uniq -c | awk '{print $2 "x" $1}' | paste -sd' ')
	expect "$baked: asked the release server for add-node.sh only" "/add-node.shx1" "$got"
	got=$(http_urls artifacts "${N_IP[$baked]}" "$(cat "$db/artifacts.mark")" | sort -u | paste -sd' ')
	expect "$baked: asked the artifact server for nothing during the boot-time join (no artifactURL: the image's record is enough)" "" "$got"
	check "$baked: the install phase used the binaries recorded at bake time (each sha256 checked)" \
		grep -q 'using installed binaries' "$ib"
}

# ---------------------------------------------------------------- figures

# print_batch_figures NODE...: group batch's figures: the bake, the joins of
# NODE... (those that joined at the group's start), baked against bare
# print_baked_figures: group baked's; print_batch_figures: group batch's,
# with baked against bare when both ran.
print_baked_figures() {
	print_bake_figures "$BAKED"
	if (($#)); then print_join_figures "$@"; fi
}
print_batch_figures() {
	if (($#)); then print_join_figures "$@"; fi
	if want baked && want bare-script; then compare_baked_bare "$BAKED" "$BARE"; fi
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
