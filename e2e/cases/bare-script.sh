# shellcheck shell=bash
# e2e/cases/bare-script.sh: a bare instance, hn-node-6: only
# /etc/hybridnode/config.yaml and the token file beforehand (standing in for
# ECS user data; the public script never carries a token), then, in group
# batch, `curl -fsSL <dist>/add-node.sh | bash` as ACK runs addNodeScriptPath:
# the script downloads hybridnode-linux-amd64 once, installs it as
# /usr/local/bin/hybridnode (the release's sha256) and leaves nothing in /tmp.

BARE=hn-node-6
# bare instance: curl -fsSL http://10.77.0.1:8081/add-node.sh | bash
define_node hn-node-6 "$LAN.16" cn-hangzhou.i-e2e0006 "cn-hangzhou.$LAN.16" "$CLOUD_LABELS,e2e.hybridnode.io/install=script" "workload=ack:NoSchedule" file script
register_case bare-script --group batch

join_case_bare_script() {
	if assert_release; then
		write_node_config "$BARE"   # stands in for ECS user data: endpoint, CA pin, token file, artifactURL
		group_join "$BARE"
	else
		fail "$BARE: not joined: make release failed"
	fi
}

case_bare_script() {
	if joined "$BARE"; then assert_bare_script_join "$BARE"; fi
}

# assert_bare_script_join BARE: what the add-node.sh run shows: the script
# downloaded the release's binary, checked it, installed it
assert_bare_script_join() {
	local bare=$1 dr ir sum
	dr=$(node_dir "$bare")
	ir=$dr/root/var/log/acs/init.log
	sum=$(sha256 "$RUN/dist/hybridnode-linux-amd64")
	check "$bare: add-node.sh downloaded and installed /usr/local/bin/hybridnode (sha256 verified)" \
		grep -q '^hybridnode-bootstrap: installed /usr/local/bin/hybridnode: .*sha256 verified' "$ir"
	local got; got=$(http_urls dist "${N_IP[$bare]}" | sort | uniq -c | awk '{print $2 "x" $1}' | paste -sd' ')
	expect "$bare: asked the release server for add-node.sh and hybridnode-linux-amd64, once each" "/add-node.shx1 /hybridnode-linux-amd64x1" "$got"
	expect "$bare: /usr/local/bin/hybridnode is the release's binary" "$sum" "$(sha256 "$dr/root/usr/local/bin/hybridnode" 2>/dev/null)"
	check "$bare: add-node.sh left no temporary directory in the node's /tmp" in_node "$bare" /bin/sh -c '! ls -d /tmp/hybridnode-bootstrap.* >/dev/null 2>&1'
}
