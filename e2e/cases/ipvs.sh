# shellcheck shell=bash
# e2e/cases/ipvs.sh: a cluster whose kube-proxy runs in IPVS mode.
#
# The test control plane has no kube-proxy addon; the case gives it what
# kubeadm's addon phase leaves for nodes to read: the kube-system/kube-proxy
# ConfigMap (a KubeProxyConfiguration with mode: ipvs) and the Role/RoleBinding
# that let bootstrap tokens get it. A node then joins: hybridnode reads the
# mode with the bootstrap token, lists the IPVS modules in modules-load.d and
# tries to load them (nspawn nodes share the host's kernel and may not load
# modules: the attempt is what is shown then). The ConfigMap is removed after.

IPVS_NODE=hn-node-18
define_node "$IPVS_NODE" "$LAN.28" cn-hangzhou.i-e2eipvs18 "cn-hangzhou.$LAN.28" "$CLOUD_LABELS" "" file
register_case ipvs
IPVS_MODULES="ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack"

case_ipvs() {
	local n=$IPVS_NODE d r m rc debs=$HN_CACHE/debs
	d=$(node_dir "$n"); r=$d/root
	log "ipvs: kube-proxy ConfigMap with mode ipvs, then $n joins"
	apply_manifest kube-proxy-ipvs.yaml
	install_hybridnode "$n"
	# first without ipset: preflight names it and its package, before anything is written
	start_cmdline_sampler
	join_node "$n" no-ipset
	expect "$n: join without ipset in IPVS mode: exit code (preflight)" 3 "$(cat "$d/no-ipset.rc")"
	check "$n: preflight names ipset and apt-get install -y ipset" \
		bash -c "grep -q 'ipset' '$r/var/log/acs/init.log' && grep -q 'apt-get install -y ipset' '$r/var/log/acs/init.log'"
	check "$n: nothing installed by the refused run (no kubelet)" test ! -e "$r/usr/local/bin/kubelet"
	# ipset as ACK's script installs it (the Debian packages, fetched on the host)
	mkdir -p "$debs"
	compgen -G "$debs/ipset_*.deb" >/dev/null || (cd "$debs" && apt-get download ipset libipset13) >"$d/ipset-download.log" 2>&1 || true
	cp "$debs"/*.deb "$r/root/" 2>/dev/null || true
	rc=0; in_node "$n" sh -c 'dpkg -i /root/*.deb && rm -f /root/*.deb' >"$d/ipset-install.log" 2>&1 || rc=$?
	expect "$n: ipset installed (dpkg -i ipset libipset13)" 0 "$rc"
	join_node "$n"
	stop_cmdline_sampler
	assert_node "$n"
	assert_ready_and_taints "$n"
	local f=$r/etc/modules-load.d/hybridnode-ipvs.conf
	if [[ -f $f ]]; then
		check "$n: /etc/modules-load.d/hybridnode-ipvs.conf is the golden file (bootstrap/hostprep/testdata/modules-load-ipvs.golden)" \
			cmp -s "$f" "$REPO_DIR/bootstrap/hostprep/testdata/modules-load-ipvs.golden"
		sed 's/^/    | /' "$f" >&2
	else
		fail "$n: no /etc/modules-load.d/hybridnode-ipvs.conf"
	fi
	check "$n: the join read kube-proxy's mode from the cluster (init.log: IPVS mode, from=ConfigMap kube-system/kube-proxy)" \
		bash -c "grep 'kube-proxy runs in IPVS mode' '$r/var/log/acs/init.log' | grep -q 'ConfigMap kube-system/kube-proxy'"
	local loaded=() failed=()
	for m in $IPVS_MODULES; do
		if [[ -d /sys/module/$m ]]; then loaded+=("$m"); continue; fi
		failed+=("$m")
		check "$n: $m: modprobe attempted (init.log: loading kernel module, command=modprobe $m)" \
			bash -c "grep 'loading kernel module' '$r/var/log/acs/init.log' | grep -q 'modprobe $m'"
	done
	note "ipvs: this kernel has ${loaded[*]:-none of them} (built in or loaded); ${failed[*]:-none} cannot be loaded here: modprobe was attempted, the warning is in the log"
	grep -E 'IPVS|kernel module' "$r/var/log/acs/init.log" | tail -8 | cut -c1-200 | sed 's/^/    | /' >&2 || true
	doctor_run "$n" ipvs
	if [[ ! -e /proc/modules ]]; then   # this kernel has no loadable modules at all
		expect "$n: doctor's kube-proxy check skips the module check on a kernel without /proc/modules ($(doc kube-proxy evidence | cut -c1-160))" skip "$(doc kube-proxy)"
	elif ((${#failed[@]})); then
		expect "$n: doctor's kube-proxy check fails while ${failed[*]} are not loaded ($(doc kube-proxy evidence | cut -c1-120))" fail "$(doc kube-proxy)"
	else
		expect "$n: doctor's kube-proxy check ($(doc kube-proxy evidence | cut -c1-120))" pass "$(doc kube-proxy)"
	fi
	kc delete -f "$E2E_DIR/manifests/kube-proxy-ipvs.yaml" --ignore-not-found >/dev/null 2>&1 || true
	assert_no_token_leak "$n"
}
