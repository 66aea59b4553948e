# shellcheck shell=bash
# e2e/cases/ack-join.sh: three cloud nodes joined as ACK's node script joins
# them: `hybridnode join >> /var/log/acs/init.log` with ALIBABA_CLOUD_PROVIDER_ID,
# _NODE_NAME, _LABELS and _TAINTS (two taints, one, none), the token file named
# in config.yaml. They join at once, with onprem's node when both run (group
# first); the group checks each Node (name, provider ID, labels, exactly the
# requested taints, Ready, containerd and kubelet active) and that the token
# leaked nowhere. Then a pod tolerating hn-node-1's taints runs there, on the
# CNI network, with kubectl logs and exec.

CLOUD_NODES=(hn-node-1 hn-node-2 hn-node-3)
#            name        ip          provider id            node name               labels           taints                                          token
define_node hn-node-1 "$LAN.11" cn-hangzhou.i-e2e0001 "cn-hangzhou.$LAN.11" "$CLOUD_LABELS" "workload=ack:NoSchedule,dedicated=gpu:NoExecute" file
define_node hn-node-2 "$LAN.12" cn-hangzhou.i-e2e0002 "cn-hangzhou.$LAN.12" "$CLOUD_LABELS" "workload=ack:NoSchedule" file
define_node hn-node-3 "$LAN.13" cn-hangzhou.i-e2e0003 "cn-hangzhou.$LAN.13" "$CLOUD_LABELS" "" file
register_case ack-join --group first

# join_case_ack_join: the binary and config.yaml (with the token file) on each
# node; they join at the group's start
join_case_ack_join() {
	local n
	for n in "${CLOUD_NODES[@]}"; do install_hybridnode "$n"; done
	group_join "${CLOUD_NODES[@]}"
}

case_ack_join() {
	if no_node_joined; then fail "no node joined: skipping the workload assertions"; return; fi
	if node_ready "$(k8s_name hn-node-1)"; then assert_workload_pod hn-node-1; else fail "workload pod: hn-node-1 is not Ready"; fi
}
