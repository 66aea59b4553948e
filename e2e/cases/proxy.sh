# shellcheck shell=bash
# e2e/cases/proxy.sh: a node whose only way to the artifacts and the registry is
# an HTTP proxy (tinyproxy from Debian, on the test LAN).
#
# The node's artifactURL and registry mirrors name hosts that only the proxy
# can resolve (oss-e2e.internal, registry-e2e.internal: the proxy's own
# /etc/hosts, bind-mounted for it alone), and the node's own firewall rejects
# the artifact, release and registry ports of the gateway, so a direct
# connection cannot work. The API server (on the gateway's address) is in
# NO_PROXY, as hybridnode always puts it there, and so are the cluster's
# subnets, which the join reads from kube-system/kubeadm-config. The node joins, runs a pod
# whose image came through the proxy, and doctor's proxy check passes.

PROXY_NODE=hn-node-19
define_node "$PROXY_NODE" "$LAN.29" cn-hangzhou.i-e2eproxy19 "cn-hangzhou.$LAN.29" "$CLOUD_LABELS" "" file
register_case proxy
PROXY_PORT=8888
PROXY_URL=http://$GW:$PROXY_PORT
PROXY_OSS=oss-e2e.internal
PROXY_REG=registry-e2e.internal

start_proxy() {
	local p=$RUN/proxy
	mkdir -p "$p"
	printf '127.0.0.1 localhost\n%s %s %s\n' "$GW" "$PROXY_OSS" "$PROXY_REG" >"$p/hosts"
	cat >"$p/tinyproxy.conf" <<EOF
User nobody
Group nogroup
Port $PROXY_PORT
Listen $GW
Timeout 120
LogLevel Info
Allow $LAN.0/24
MaxClients 200
DisableViaHeader Yes
EOF
	log "HTTP proxy $PROXY_URL (tinyproxy; resolves $PROXY_OSS and $PROXY_REG)"
	start_daemon proxy unshare -m sh -c "mount --bind '$p/hosts' /etc/hosts && exec tinyproxy -d -c '$p/tinyproxy.conf'"
	wait_for "proxy" 20 nsx curl -sf -o /dev/null -x "$PROXY_URL" "http://$PROXY_OSS:$ART_PORT/SHA256SUMS"
}

case_proxy() {
	local n=$PROXY_NODE d r ip=${N_IP[$PROXY_NODE]} env shown
	d=$(node_dir "$n"); r=$d/root
	command -v tinyproxy >/dev/null || { fail "proxy: tinyproxy is not installed (e2e/build/prepare.sh installs it)"; return; }
	start_proxy || { fail "proxy: tinyproxy did not come up ($RUN/logs/proxy.log)"; return; }
	log "proxy: $n reaches artifacts and registry only through $PROXY_URL"
	install_hybridnode "$n"
	sed -i -e "s|^artifactURL: .*|artifactURL: http://$PROXY_OSS:$ART_PORT/|" \
		-e "s|http://$GW:$REG_PORT|http://$PROXY_REG:$REG_PORT|g" "$r/etc/hybridnode/config.yaml"
	printf 'httpProxy: %s\nhttpsProxy: %s\n' "$PROXY_URL" "$PROXY_URL" >>"$r/etc/hybridnode/config.yaml"
	if in_node "$n" iptables -I OUTPUT -p tcp -d "$GW" -m multiport --dports "$ART_PORT,$REG_PORT,$DIST_PORT" -j REJECT 2>"$d/iptables.err"; then
		check "$n: a direct connection to the artifact server is refused" not in_node "$n" curl -sf -m 5 -o /dev/null "http://$GW:$ART_PORT/SHA256SUMS"
	else
		note "$n: no firewall in the node ($(head -1 "$d/iptables.err")): the names only the proxy resolves are the only barrier"
	fi
	check "$n: $PROXY_OSS does not resolve on the node" not in_node "$n" getent hosts "$PROXY_OSS"
	join_and_assert "$n"
	check "$n: the artifacts came through the proxy (tinyproxy's log: GET http://$PROXY_OSS:$ART_PORT/.../kubelet)" \
		grep -q "Request .*GET http://$PROXY_OSS:$ART_PORT/kubernetes/.*/kubelet" "$RUN/logs/proxy.log"
	check "$n: containerd pulled through the proxy (tinyproxy's log: http://$PROXY_REG:$REG_PORT/v2/)" \
		grep -q "Request .*http://$PROXY_REG:$REG_PORT/v2/" "$RUN/logs/proxy.log"
	expect "$n: requests from the node's address at the artifact server (all went through the proxy)" "" "$(http_urls artifacts "$ip" | paste -sd' ')"
	for u in containerd kubelet; do
		# What every local user sees (systemctl show, over D-Bus): no proxy
		# setting, only the name of the 0600 file that holds them.
		shown=$(in_node "$n" systemctl show -P Environment "$u" 2>/dev/null)
		# shellcheck disable=SC2016 # $1 is bash -c's
		check "$n: $u's Environment= (shown to every user) has no proxy" bash -c '! grep -q PROXY= <<<"$1"' sh "$shown"
		check "$n: $u's EnvironmentFiles name /etc/hybridnode/proxy/$u.env" \
			grep -q "/etc/hybridnode/proxy/$u.env" <<<"$(in_node "$n" systemctl show -P EnvironmentFiles "$u" 2>/dev/null)"
		expect "$n: /etc/hybridnode/proxy/$u.env is mode 0600" 600 "$(stat -c %a "$r/etc/hybridnode/proxy/$u.env" 2>/dev/null)"
		# What the service runs with: its main process's environment.
		# shellcheck disable=SC2016 # $1 and $(...) are the node's shell's
		env=$(in_node "$n" sh -c 'tr "\0" " " <"/proc/$(systemctl show -P MainPID "$1")/environ"' sh "$u" 2>/dev/null)
		check "$n: $u runs with HTTP_PROXY=$PROXY_URL" grep -q "HTTP_PROXY=$PROXY_URL" <<<"$env"
		check "$n: $u's NO_PROXY has the API server, 100.100.100.200, localhost and the node's address" \
			bash -c "grep -o 'NO_PROXY=[^ ]*' <<<'$env' | head -1 | tr '=,' '\n\n' | grep -qx '$GW' && grep -q '100.100.100.200' <<<'$env' && grep -q 'localhost' <<<'$env' && grep -q '$ip' <<<'$env'"
		check "$n: $u's NO_PROXY has the cluster's service and pod subnets (kube-system/kubeadm-config: 10.96.0.0/16, $POD_PREFIX.0.0/16)" \
			bash -c "grep -o 'NO_PROXY=[^ ]*' <<<'$env' | head -1 | tr '=,' '\n\n' | grep -qx '10.96.0.0/16' && grep -q '$POD_PREFIX.0.0/16' <<<'$env'"
	done
	check "$n: the join recorded the subnets it read (/var/lib/hybridnode/cluster.json)" grep -q '"10.96.0.0/16"' "$r/var/lib/hybridnode/cluster.json"
	if node_ready "$(k8s_name "$n")"; then
		assert_workload_pod "$n" proxy-workload
		doctor_run "$n" proxy
		expect "$n: doctor's proxy check: hybridnode, containerd and kubelet agree ($(doc proxy evidence))" pass "$(doc proxy)"
	else
		fail "$n: workload and doctor: not Ready"
	fi
	assert_no_token_leak "$n"
}
