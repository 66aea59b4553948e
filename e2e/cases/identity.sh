# shellcheck shell=bash
# e2e/cases/identity.sh: no long-lived secret. A node proves who it is with its
# ECS instance identity and gets a short-lived token from the token service.
#
# Stand-ins: e2e/fakeimds serves each node's identity document and a PKCS#7
# signature in ECS's shape made with a test certificate (fakeimds gen-ca)
# instead of Alibaba Cloud's,
# in security hardening mode (a metadata token first); two replicas of
# `hybridnode-cluster token-service` run in the test network against the real
# API server, with that CA, the account allow-list and the region.
#
#   0. `hybridnode cluster setup --credentials identity`: the token service's
#      manifests, TLS Secret and audience, and a node script with no token. The
#      Deployment is scaled to 0 (the e2e has no image of it); its two replicas
#      run as processes with its TLS Secret, under its ServiceAccount's token
#   1. ID_NODE, a stock instance, runs that script (no token anywhere: not in
#      the script, not on the node) and becomes Ready; its token Secret is
#      deleted once the Node registers
#   2. refused, each with no token created and its own exit code and message on
#      the node: a signature by another CA, another account, a provider ID that
#      is not the signed instance's (a stale audience: see TODO(stale) below)
#   3. refused at the service: a replayed captured request, an oversized body
#   4. load: 200 concurrent exchanges of 200 instances at the two replicas;
#      every one answered, latency figures printed

ID_NODE=hn-node-13 ID_BAD=hn-node-14
# no token on the node; one joins, one is refused
define_node hn-node-13 "$LAN.23" cn-hangzhou.i-e2eid13 "cn-hangzhou.$LAN.23" "$CLOUD_LABELS" "" none pool
define_node hn-node-14 "$LAN.24" cn-hangzhou.i-e2eid14 "cn-hangzhou.$LAN.24" "$CLOUD_LABELS" "" none
register_case identity

ID_DIR=$RUN/identity
ID_ACCOUNT=1234567890123456
ID_AUDIENCE=e2e-cluster
ID_IMDS_PORT=8084
ID_PORTS=(9443 9444)
ID_LOAD=${HN_E2E_IDENTITY_LOAD:-200}
ID_LABEL=hybridnode.io/credential=instance-identity

# id_tokens: the token Secrets the service made
id_tokens() { kc -n kube-system get secrets -l "$ID_LABEL" -o name 2>/dev/null | wc -l; }
id_no_tokens() { [[ $(id_tokens) == 0 ]]; }
id_url() { echo "https://$GW:${ID_PORTS[${1:-0}]}"; }

# id_nodes_file NAME [EXTRA] [ACCOUNT]: fakeimds's nodes file: ID_NODE, ID_BAD
# (of ACCOUNT, with EXTRA's YAML lines) and the load's instances
id_nodes_file() {
	local ip13=${N_IP[$ID_NODE]} ip14=${N_IP[$ID_BAD]} i
	{
		cat <<EOF
"$ip13":
  account: "$ID_ACCOUNT"
  region: cn-hangzhou
  zone: cn-hangzhou-k
  instanceID: ${N_PROVIDER[$ID_NODE]#*.}
  privateIP: $ip13
  vpcCIDR: $LAN.0/24
"$ip14":
  account: "${3:-$ID_ACCOUNT}"
  region: cn-hangzhou
  zone: cn-hangzhou-k
  instanceID: ${N_PROVIDER[$ID_BAD]#*.}
  privateIP: $ip14
  vpcCIDR: $LAN.0/24
EOF
		# shellcheck disable=SC2001 # indent every line
		[[ -n ${2:-} ]] && sed 's/^/  /' <<<"$2"
		for ((i = 1; i <= ID_LOAD; i++)); do
			printf '"load%03d":\n  account: "%s"\n  region: cn-hangzhou\n  zone: cn-hangzhou-k\n  instanceID: i-e2eload%03d\n  privateIP: 10.99.%d.%d\n' \
				"$i" "$ID_ACCOUNT" "$i" $((i / 250)) $((i % 250 + 1))
		done
	} >"$ID_DIR/$1"
}

# id_imds NODESFILE: (re)start fakeimds with that file, hardened mode only
id_imds() {
	stop_daemon imds
	start_daemon imds "$ID_DIR/fakeimds" serve --listen "$GW:$ID_IMDS_PORT" --ca-cert "$ID_DIR/ca/ca.crt" \
		--ca-key "$ID_DIR/ca/ca.key" --nodes "$ID_DIR/$1" --require-token
	wait_for "fakeimds on $GW:$ID_IMDS_PORT" 10 nsx curl -fsS -o /dev/null -X PUT \
		-H 'X-aliyun-ecs-metadata-token-ttl-seconds: 60' "http://$GW:$ID_IMDS_PORT/latest/api/token"
}

# write_identity_config NAME: what the node image and user data hold: the
# cluster's endpoint and CA pin, the token service's URL, pin and audience, the
# metadata service. No token, no token file.
write_identity_config() {
	local r; r=$(node_dir "$1")/root
	install -d -m 0700 "$r/etc/hybridnode"
	{
		cat <<EOC
kubernetesVersion: $K8S_VERSION
apiServerEndpoint: $API
caCertHashes:
  - $(cat "$RUN/ca-hash")
artifactURL: http://$GW:$ART_PORT/
metadataEndpoint: http://$GW:$ID_IMDS_PORT
credentialSource: instance-identity
tokenService:
  url: $(id_url 0)
  pin: $(cat "$ID_DIR/service.pin")
  audience: $ID_AUDIENCE
EOC
		lan_node_settings
	} >"$r/etc/hybridnode/config.yaml"
	chmod 0600 "$r/etc/hybridnode/config.yaml"
}

ID_POOL=np-identity
ID_SCRIPT=$RUN/dist/pool/add-node-$ID_POOL.sh
id_setup() {
	mkdir -p "$ID_DIR" "$(dirname "$ID_SCRIPT")" "$POOL_DIR"
	CGO_ENABLED=0 go build -trimpath -o "$ID_DIR/fakeimds" "$REPO_DIR/e2e/fakeimds" || return 1
	"$ID_DIR/fakeimds" gen-ca "$ID_DIR/ca" && "$ID_DIR/fakeimds" gen-ca "$ID_DIR/other-ca" || return 1
	id_nodes_file nodes.yaml
	id_imds nodes.yaml || return 1

	# the administrator's side
	{ echo "metadataEndpoint: http://$GW:$ID_IMDS_PORT"; lan_node_settings; } >"$ID_DIR/node-config.yaml"
	pool_run identity-setup hc setup --credentials identity --identity-ca "$ID_DIR/ca/ca.crt" --accounts "$ID_ACCOUNT" \
		--regions cn-hangzhou --token-service-image hybridnode.local/hybridnode-cluster:e2e --token-service-address "$GW" \
		--token-service-port "${ID_PORTS[0]}" --onprem-cni kube-system/calico --cloud-cni kube-system/terway \
		--node-pool "$ID_POOL" --vpc-cidr "$LAN.0/24" --artifact-url "http://$GW:$ART_PORT/" \
		--node-config "$ID_DIR/node-config.yaml" --script-out "$ID_SCRIPT"
	cp "$POOL_DIR/identity-setup.out" "$ID_DIR/" 2>/dev/null || true
	# shellcheck disable=SC2153 # POOL_RC: set by pool_run (cases/node-pool.sh)
	expect "identity: hybridnode cluster setup --credentials identity exit code" 0 "$POOL_RC"
	((POOL_RC == 0)) || { sed 's/^/    | /' "$POOL_DIR/identity-setup.out" >&2; return 1; }
	check "identity: the node script says credentialSource: instance-identity" grep -q 'credentialSource: instance-identity' "$ID_SCRIPT"
	local held; held=$(grep -cE '[a-z0-9]{6}\.[a-z0-9]{16}' "$ID_SCRIPT" || true)
	expect "identity: no bootstrap token in the node script (the bucket)" 0 "$held"
	local pools; pools=$(kc -n kube-system get secrets -l "hybridnode.io/node-pool=$ID_POOL" -o name | wc -l)
	expect "identity: setup made no pool token" 0 "$pools"
	kc -n kube-system scale deploy "$ID_NAME" --replicas=0 >/dev/null || return 1
	kc -n kube-system get secret "$ID_NAME-tls" -o jsonpath='{.data.tls\.crt}' | base64 -d >"$ID_DIR/tls.crt"
	kc -n kube-system get secret "$ID_NAME-tls" -o jsonpath='{.data.tls\.key}' | base64 -d >"$ID_DIR/tls.key"
	ID_AUDIENCE=$(kc -n kube-system get cm "$ID_NAME" -o jsonpath='{.data.audience}')
	sed -n 's/^ *pin: *//p' "$ID_SCRIPT" | head -1 | tr -d "'\"" >"$ID_DIR/service.pin"
	log "identity: audience $ID_AUDIENCE, pin $(cat "$ID_DIR/service.pin")"
	# its ServiceAccount's credentials: the RBAC setup made is all the service has
	local satoken kcfg=$ID_DIR/sa.kubeconfig
	satoken=$(kc -n kube-system create token "$ID_NAME" --duration 2h) || return 1
	"$K8S_BIN/kubectl" config --kubeconfig "$kcfg" set-cluster e2e --server "https://$API" --certificate-authority "$RUN/cp/pki/ca.crt" >/dev/null
	"$K8S_BIN/kubectl" config --kubeconfig "$kcfg" set-credentials sa --token "$satoken" >/dev/null
	"$K8S_BIN/kubectl" config --kubeconfig "$kcfg" set-context e2e --cluster e2e --user sa >/dev/null
	"$K8S_BIN/kubectl" config --kubeconfig "$kcfg" use-context e2e >/dev/null
	chmod 0600 "$kcfg"
	local i
	for i in 0 1; do
		start_daemon "token-service-$i" "$RUN/dist/hybridnode-cluster-linux-amd64" token-service --kubeconfig "$kcfg" \
			--listen "$GW:${ID_PORTS[$i]}" --tls-cert "$ID_DIR/tls.crt" --tls-key "$ID_DIR/tls.key" \
			--identity-ca "$ID_DIR/ca/ca.crt" --audience "$ID_AUDIENCE" --accounts "$ID_ACCOUNT" --regions cn-hangzhou \
			--burst $((ID_LOAD * 2)) --client-burst $((ID_LOAD * 2)) --client-rate $((ID_LOAD * 2)) --rate $((ID_LOAD * 2))
		wait_for "token-service-$i on $(id_url "$i")" 15 nsx curl -ksS -o /dev/null "$(id_url "$i")$ID_PATH" || return 1
	done
}
ID_NAME=hybridnode-token-service
ID_PATH=/v1/exchange

# id_refused NAME DESC CODE REASON [ENV...]: a join of ID_BAD refused: exit
# CODE, REASON in its log, no token created
id_refused() {
	local desc=$1 code=$2 reason=$3; shift 3
	local d before rc; d=$(node_dir "$ID_BAD")
	before=$(id_tokens)
	local mark; mark=$(wc -l <"$d/root/var/log/acs/init.log" 2>/dev/null || echo 0)
	JOIN_EXTRA_ENV=("$@")
	join_node "$ID_BAD" "join-$reason"
	# shellcheck disable=SC2034 # read by join_env
	JOIN_EXTRA_ENV=()
	rc=$(cat "$d/join-$reason.rc")
	local said; said=$(tail -n +"$((mark + 1))" "$d/root/var/log/acs/init.log" | grep -m1 "$reason" | sed 's/^.*hybridnode: //' | cut -c1-220 || true)
	if [[ $rc == "$code" && -n $said ]]; then pass "$ID_BAD: $desc: refused, exit $code: $said"
	else fail "$ID_BAD: $desc: want exit $code naming $reason, got exit $rc"; tail -n +"$((mark + 1))" "$d/root/var/log/acs/init.log" | tail -5 >&2; fi
	expect "$ID_BAD: $desc: no token created" "$before" "$(id_tokens)"
}

# id_request KEY: an exchange request body for fakeimds node KEY, fetched as a
# node would (hardened mode), for the audience at this second
id_request() {
	local key=$1 tok aud doc sig imds=http://$GW:$ID_IMDS_PORT
	tok=$(nsx curl -fsS -X PUT -H 'X-aliyun-ecs-metadata-token-ttl-seconds: 60' "$imds/latest/api/token") || return 1
	aud="$ID_AUDIENCE:$(date +%s)"
	doc=$(nsx curl -fsS -H "X-aliyun-ecs-metadata-token: $tok" -H "X-Fakeimds-Node: $key" "$imds/latest/dynamic/instance-identity/document") || return 1
	sig=$(nsx curl -fsS -H "X-aliyun-ecs-metadata-token: $tok" -H "X-Fakeimds-Node: $key" "$imds/latest/dynamic/instance-identity/pkcs7?audience=$aud") || return 1
	local iid; iid=$(jq -r '."instance-id"' <<<"$doc")
	jq -cn --arg d "$doc" --arg s "$sig" --arg a "$aud" --arg p "cn-hangzhou.$iid" --arg n "cn-hangzhou.$key" \
		'{document: $d, signature: $s, audience: $a, providerID: $p, nodeName: $n}'
}
# id_post PORT_INDEX FILE: POST FILE, print "<http code> <seconds>"
id_post() { nsx curl -ks -o /dev/null -w '%{http_code} %{time_total}\n' -H 'Content-Type: application/json' --data-binary "@$2" "$(id_url "$1")$ID_PATH"; }

case_identity() {
	log "identity: token service (2 replicas), fakeimds with a test CA, $ID_NODE joins with no token"
	if ! assert_release; then fail "identity: not run: make release failed (hybridnode-cluster)"; return; fi
	if ! id_setup; then fail "identity: setup, the token service or fakeimds did not start"; return; fi

	# 1. the join
	local n=$ID_NODE d r; d=$(node_dir "$n"); r=$d/root
	check "$n: a stock instance: no /etc/hybridnode before the join" test ! -e "$r/etc/hybridnode"
	local pool_url=${POOL_URL:-}
	POOL_URL=$DIST_URL/pool/add-node-$ID_POOL.sh   # what ACK's agent would fetch from addNodeScriptPath
	join_node "$n" join
	POOL_URL=$pool_url
	assert_node "$n"
	assert_ready_and_taints "$n"
	if wait_for "$n's token Secret deleted after registration" 30 id_no_tokens; then
		pass "$n: its token Secret is gone after the Node registered"
	else fail "$n: its token Secret is gone after the Node registered ($(id_tokens) left)"; fi
	local issued; issued=$(cat "$RUN/logs/token-service-"*.log 2>/dev/null | grep -c '"token issued"' || true)
	check "$n: the service logged the decision ($issued issued)" test "$issued" -ge 1
	local leaks; leaks=$(grep -lE '[a-z0-9]{6}\.[a-z0-9]{16}' "$r/var/log/acs/init.log" "$r/var/lib/hybridnode/report.json" "$RUN/logs/token-service-"*.log 2>/dev/null | paste -sd' ' || true)
	expect "$n: no bootstrap token in its init.log, its report, or the service's logs" "" "$leaks"

	# 2. refusals on the node
	install -D -m 0755 "$HN_BIN" "$(node_dir "$ID_BAD")/root/usr/local/bin/hybridnode"
	write_identity_config "$ID_BAD"
	id_nodes_file other-ca.yaml "signCert: $ID_DIR/other-ca/ca.crt
signKey: $ID_DIR/other-ca/ca.key"
	id_imds other-ca.yaml
	id_refused "a signature by another CA" 22 signature-refused
	id_nodes_file account.yaml "" 9999999999999999
	id_imds account.yaml
	id_refused "another account" 23 account-not-allowed
	# TODO(stale): replaced by a service-level stale audience test
	id_imds nodes.yaml
	id_refused "a provider ID that is not the signed instance's" 22 instance-mismatch ALIBABA_CLOUD_PROVIDER_ID=cn-hangzhou.i-e2enotme

	# 3. at the service: a replayed captured request; an oversized body
	local before; before=$(id_tokens)
	if id_request "${N_IP[$ID_BAD]}" >"$ID_DIR/captured.json"; then
		local first second
		first=$(id_post 0 "$ID_DIR/captured.json"); second=$(id_post 1 "$ID_DIR/captured.json")
		expect "the captured request, sent first: accepted (replica 0)" 200 "${first%% *}"
		expect "the captured request replayed at the other replica: refused (409 replay: the state is in the API server)" 409 "${second%% *}"
		expect "the replay created no second token" $((before + 1)) "$(id_tokens)"
	else fail "identity: a request could not be captured from fakeimds"; fi
	head -c 100000 /dev/zero | tr '\0' 'a' >"$ID_DIR/big.json"
	before=$(id_tokens)
	local big; big=$(id_post 0 "$ID_DIR/big.json")
	expect "an oversized body: refused (413)" 413 "${big%% *}"
	expect "an oversized body: no token created" "$before" "$(id_tokens)"
	kc -n kube-system delete secrets -l "$ID_LABEL" >/dev/null 2>&1 || true

	# 4. load
	local i
	for ((i = 1; i <= ID_LOAD; i++)); do id_request "$(printf 'load%03d' "$i")" >"$ID_DIR/load-$i.json" || break; done
	local t=$EPOCHREALTIME
	# shellcheck disable=SC2016 # $i and $((...)) are the inner bash's
	seq 1 "$ID_LOAD" | xargs -P "$ID_LOAD" -I{} bash -c 'i={}; ip netns exec '"$NETNS"' curl -ks -o /dev/null --max-time 60 -w "%{http_code} %{time_total}\n" \
		-H "Content-Type: application/json" --data-binary "@'"$ID_DIR"'/load-$i.json" "https://'"$GW"':$((9443 + i % 2))'"$ID_PATH"'"' >"$ID_DIR/load.out" || true
	local wall; wall=$(elapsed "$t")
	local ok; ok=$(awk '$1 == 200' "$ID_DIR/load.out" 2>/dev/null | wc -l)
	expect "load: $ID_LOAD concurrent exchanges at 2 replicas, all answered 200 (in ${wall}s)" "$ID_LOAD" "$ok"
	local stats; stats=$(awk '{print $2}' "$ID_DIR/load.out" | sort -n | awk '{a[NR]=$1} END {printf "p50 %.2fs, p99 %.2fs, max %.2fs", a[int(NR*0.5)], a[int(NR*0.99)], a[NR]}')
	note "identity load: $ID_LOAD concurrent exchanges at 2 replicas: $stats, all in ${wall}s"
	expect "load: $ID_LOAD tokens made, one per instance" "$ID_LOAD" "$(id_tokens)"
	kc -n kube-system delete secrets -l "$ID_LABEL" >/dev/null 2>&1 || true
}
