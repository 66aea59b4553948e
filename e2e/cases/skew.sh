# shellcheck shell=bash
# e2e/cases/skew.sh: a node three minors behind the control plane (kubeadm
# and kubelet $K8S_OLD_VERSION, built by prepare.sh from e2e/build/k8s134, the
# oldest kubelet the version-skew policy allows beside a $K8S_VERSION API
# server): hybridnode renders for that minor, kubeadm joins it, the Node
# reports the old kubelet, is Ready and runs a pod; doctor is healthy.

SKEW_NODE=hn-node-20
define_node "$SKEW_NODE" "$LAN.30" cn-hangzhou.i-e2eskew20 "cn-hangzhou.$LAN.30" "$CLOUD_LABELS" "" file
register_case skew

case_skew() {
	local n=$SKEW_NODE d r v=$K8S_OLD_VERSION
	d=$(node_dir "$n"); r=$d/root
	log "skew: $n on Kubernetes $v, the control plane on $K8S_VERSION"
	if [[ ! -x $ARTIFACTS/kubernetes/$v/bin/linux/amd64/kubelet ]]; then
		fail "skew: no kubelet $v in the artifact tree (e2e/build/prepare.sh builds it)"; return
	fi
	install_hybridnode "$n"
	sed -i "s/^kubernetesVersion: .*/kubernetesVersion: $v/" "$r/etc/hybridnode/config.yaml"
	plan_join_config "$n" >"$d/join-config.yaml"
	expect_file "$n: hybridnode plan's JoinConfiguration for $v (token redacted)" "$n" join-config-skew.yaml "$d/join-config.yaml"
	join_and_assert "$n"
	expect "$n: kubelet --version" "Kubernetes $v" "$(in_node "$n" kubelet --version)"
	expect "$n: kubeadm version" "$v" "$(in_node "$n" kubeadm version -o short)"
	expect "$n: the Node's kubelet version" "$v" \
		"$(kc get node "$(k8s_name "$n")" -o jsonpath='{.status.nodeInfo.kubeletVersion}' 2>/dev/null)"
	expect "$n: installed.json records Kubernetes $v" "$v" "$(jq -r '.versions.kubernetes' "$r/var/lib/hybridnode/installed.json" 2>/dev/null)"
	if node_ready "$(k8s_name "$n")"; then
		assert_workload_pod "$n" skew-workload
		assert_doctor_healthy "$n"
	else
		fail "$n: workload pod and doctor: not Ready"
	fi
	assert_no_token_leak "$n"
}
