# shellcheck shell=bash
# e2e/cases/containerd17.sh: a Debian node on containerd 1.7 (built from its Go
# module by prepare.sh): the schema v2 config (against cases/expected),
# accepted by `containerd config dump`, the CRI plugin up, Ready, a pod runs.

C17_NODE=hn-node-16
define_node "$C17_NODE" "$LAN.26" cn-hangzhou.i-e2ec17n16 "cn-hangzhou.$LAN.26" "$CLOUD_LABELS" "" file
register_case containerd17

# case_containerd17: containerd 1.7 with the schema v2 config on a real node.
case_containerd17() {
	local n=$C17_NODE d r v=$CONTAINERD17_VERSION
	d=$(node_dir "$n"); r=$d/root
	log "containerd17: $n on containerd $v"
	install_hybridnode "$n"
	sed -i "s/^containerdVersion: .*/containerdVersion: $v/" "$r/etc/hybridnode/config.yaml"
	expect_plan "$n"
	join_and_assert "$n"
	expect "$n: containerd --version" "$v" "$(in_node "$n" containerd --version | awk '{print $3}')"
	expect_file "$n: /etc/containerd/config.toml (containerd 1.7, schema v2)" "$n" containerd-config-v2.toml "$r/etc/containerd/config.toml"
	in_node "$n" containerd config dump >"$d/config-dump.toml" 2>"$d/config-dump.err" || true
	check "$n: containerd config dump accepts the config (the CRI plugin has hybridnode's sandbox image and cgroup driver)" \
		bash -c "grep -q 'sandbox_image = \"$SANDBOX_IMAGE\"' '$d/config-dump.toml' && grep -q 'SystemdCgroup = true' '$d/config-dump.toml'"
	in_node "$n" crictl info >"$d/crictl-info.json" 2>&1 || true
	expect "$n: the CRI plugin is up (crictl info: RuntimeReady)" true \
		"$(jq -r '.status.conditions[] | select(.type == "RuntimeReady") | .status' "$d/crictl-info.json" 2>/dev/null)"
	if node_ready "$(k8s_name "$n")"; then assert_workload_pod "$n" c17-workload; else fail "$n: workload pod: not Ready"; fi
	assert_no_token_leak "$n"
}
