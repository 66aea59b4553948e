# shellcheck shell=bash
# e2e/cases/metadata.sh: a hand run with instance metadata, hn-node-7: in group
# batch, `hybridnode join` with no ALIBABA_CLOUD_* and
# HYBRIDNODE_METADATA_ENDPOINT=http://10.77.0.1:8082 (the fake metadata service,
# release.sh's start_scenario_servers, answers for this node). The Node is
# cn-hangzhou.10.77.0.17 with provider ID cn-hangzhou.i-e2emeta07; config dump
# marks providerID, nodeName and vpcCIDR `# metadata`; the service saw the token
# PUT (501) and the four GETs from this node, and no request from another.

MDNODE=hn-node-7
# hand run: no ALIBABA_CLOUD_*; name and provider ID from the fake metadata service
define_node hn-node-7 "$LAN.17" cn-hangzhou.i-e2emeta07 "cn-hangzhou.$LAN.17" "" "" file metadata
register_case metadata --group batch

join_case_metadata() {
	install_hybridnode "$MDNODE"
	group_join "$MDNODE"
}

case_metadata() { assert_metadata_join "$MDNODE"; }

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
