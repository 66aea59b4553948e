# shellcheck shell=bash
# e2e/cases/onprem.sh: an on-premises node, idc-node-4: no
# ALIBABA_CLOUD_PROVIDER_ID or _NODE_NAME (the Node is named after the
# hostname and has no provider ID), no external label, the token file given
# through HYBRIDNODE_TOKEN_FILE instead of config.yaml. It joins at once with
# ack-join's cloud nodes when both run (group first), with the same node checks.
# Then the CNI split of a hybrid cluster: the terway stand-in on every cloud node
# and nowhere else, calico only on the on-premises node.

ONPREM_NODES=(idc-node-4)
# on-premises: no ALIBABA_CLOUD_PROVIDER_ID/NODE_NAME (Node name = hostname), no
# external label, token file given through HYBRIDNODE_TOKEN_FILE instead of config.yaml
define_node idc-node-4 "$LAN.14" "" "" "alibabacloud.com/nodepool-id=np-idc,workload=cpu" "" env
register_case onprem --group first

join_case_onprem() {
	local n
	for n in "${ONPREM_NODES[@]}"; do install_hybridnode "$n"; done
	group_join "${ONPREM_NODES[@]}"
}

case_onprem() {
	if no_node_joined; then fail "no node joined: skipping the workload assertions"; return; fi
	assert_cni_daemonsets
}

# assert_cni_daemonsets: terway on the cloud nodes (ack-join's, when it runs)
# only, calico on the on-prem node only
assert_cni_daemonsets() {
	local n cloud_names onprem_names cloud=()
	if want ack-join; then cloud=("${CLOUD_NODES[@]}"); fi   # the cloud nodes joined by now
	cloud_names=$(for n in "${cloud[@]}"; do k8s_name "$n"; done | sort | paste -sd,)
	onprem_names=$(for n in "${ONPREM_NODES[@]}"; do k8s_name "$n"; done | sort | paste -sd,)
	wait_for "terway DaemonSet ready" 60 ds_ready terway "${#cloud[@]}" || true
	wait_for "calico DaemonSet ready" 60 ds_ready calico "${#ONPREM_NODES[@]}" || true
	expect "terway pods: one on each cloud node, none elsewhere" "$cloud_names" "$(ds_pod_nodes terway)"
	expect "calico pods: none on cloud nodes, one on the on-prem node" "$onprem_names" "$(ds_pod_nodes calico)"
	check "terway DaemonSet ready ${#cloud[@]}/${#cloud[@]}" ds_ready terway "${#cloud[@]}"
	check "calico DaemonSet ready ${#ONPREM_NODES[@]}/${#ONPREM_NODES[@]}" ds_ready calico "${#ONPREM_NODES[@]}"
}
