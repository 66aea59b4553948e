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
	local n=$IPVS_NODE d r m f
	d=$(node_dir "$n"); r=$d/root
	log "ipvs: kube-proxy ConfigMap with mode ipvs, then $n joins"
	apply_manifest kube-proxy-ipvs.yaml
	install_hybridnode "$n"
	start_cmdline_sampler
	join_node "$n"
	stop_cmdline_sampler
	assert_node "$n"
	assert_ready_and_taints "$n"
	f=$(grep -l -x ip_vs "$r"/etc/modules-load.d/*.conf 2>/dev/null | head -1)
	if [[ -n $f ]]; then
		pass "$n: ${f#"$r"} lists the IPVS modules"
		for m in $IPVS_MODULES; do check "$n: ${f#"$r"} lists $m" grep -qx "$m" "$f"; done
		sed 's/^/    | /' "$f" >&2
	else
		fail "$n: no /etc/modules-load.d file lists ip_vs"
	fi
	check "$n: the join's log shows kube-proxy mode ipvs read from the cluster" grep -q 'ipvs' "$r/var/log/acs/init.log"
	local loaded=() tried=()
	for m in $IPVS_MODULES; do
		if grep -q "^$m " /proc/modules; then loaded+=("$m"); else tried+=("$m"); fi
	done
	if ((${#tried[@]} == 0)); then pass "$n: IPVS modules loaded (/proc/modules: ${loaded[*]})"
	else
		check "$n: modules the kernel lacks (${tried[*]}): hybridnode's modprobe attempt is in the log" grep -q 'modprobe\|kernel module' "$r/var/log/acs/init.log"
	fi
	grep -iE 'ipvs|ip_vs|modprobe|kube-proxy' "$r/var/log/acs/init.log" | head -8 | sed 's/^/    | /' >&2 || true
	kc -n kube-system delete -f "$E2E_DIR/manifests/kube-proxy-ipvs.yaml" --ignore-not-found >/dev/null 2>&1 || true
	assert_no_token_leak "$n"
}
