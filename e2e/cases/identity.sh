# shellcheck shell=bash
# e2e/cases/identity.sh: no long-lived secret, and a node can only ever become
# itself. A node proves who it is with its ECS instance identity and gets a
# short-lived token from the token service, whose approver then approves the
# token's one kubelet client CSR, for the name derived from the signed document.
#
# Stand-ins: e2e/fakeimds serves each node's identity document and a PKCS#7
# signature in the shape ECS makes (SHA-1, RSA, content attached, no
# certificates, no signed attributes; held to a real captured signature by its
# tests), by a test key instead of Alibaba Cloud's, in security hardening mode
# (a metadata token first); two replicas of `hybridnode-cluster token-service`
# run in the test network against the real API server and controller-manager,
# under the ServiceAccount and RBAC that setup made, with that key's
# certificate as --identity-ca, the account allow-list and the region.
#
#   0. `hybridnode cluster setup --credentials identity`: the token service's
#      objects (its records' namespace, least-privilege roles, the bootstrap
#      bindings without auto-approval, the admission policies) and a node
#      script with no token. The Deployment is scaled to 0 (the e2e has no
#      image of it); its two replicas run as processes with its TLS Secret,
#      under its ServiceAccount's token
#   1. ID_NODE, a stock instance, runs that script (no token anywhere) and
#      becomes Ready; its client certificate's CN is its derived name, approved
#      by the service; its token Secret is deleted once the Node registers
#   2. refused on the node, each with no token created and its own exit code:
#      another signer, another account, a provider ID or a node name that is
#      not the signed instance's
#   3. attacks at the service and the API server, each refused: a replay after
#      registration, a stale audience, a forged audience, an oversized body;
#      another instance's valid token asking for ID_NODE's name or an
#      on-premises node's (its CSR is denied, no certificate); the service's
#      ServiceAccount reading a Secret, minting a ServiceAccount token, writing
#      a Secret that is not its bootstrap token; a Node registering under a
#      recorded name with another provider ID; a node pool's token of the pool
#      group asking for a registered node's name or one outside the pool
#   4. load: 200 instances at once, each with its identity and its own CSR at
#      the two replicas: every one approved for its own name only; p50/p99 and
#      the API server's CPU per instance printed

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
		# two instances of the account that attack: their own identities are
		# valid; they ask for names that are not theirs
		printf '"atk%d":\n  account: "%s"\n  region: cn-hangzhou\n  zone: cn-hangzhou-k\n  instanceID: i-e2eatk%d\n  privateIP: 10.98.0.%d\n' \
			1 "$ID_ACCOUNT" 1 1 2 "$ID_ACCOUNT" 2 2
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
			--identity-ca "$ID_DIR/ca/ca.crt" --audience "$ID_AUDIENCE" --accounts "$ID_ACCOUNT" --regions cn-hangzhou --vpc-cidr "$LAN.0/24" \
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

# id_request KEY [AUDIENCE]: an exchange request body for fakeimds node KEY,
# fetched as a node would (hardened mode), for the audience at this second (or
# AUDIENCE), with the node name derived as the service derives it
# (<region-id>.<private-ipv4>)
id_request() {
	local key=$1 tok aud doc sig imds=http://$GW:$ID_IMDS_PORT
	tok=$(nsx curl -fsS -X PUT -H 'X-aliyun-ecs-metadata-token-ttl-seconds: 60' "$imds/latest/api/token") || return 1
	aud=${2:-$ID_AUDIENCE:$(date +%s)}
	doc=$(nsx curl -fsS -H "X-aliyun-ecs-metadata-token: $tok" -H "X-Fakeimds-Node: $key" "$imds/latest/dynamic/instance-identity/document") || return 1
	sig=$(nsx curl -fsS -G -H "X-aliyun-ecs-metadata-token: $tok" -H "X-Fakeimds-Node: $key" --data-urlencode "audience=$aud" \
		"$imds/latest/dynamic/instance-identity/pkcs7") || return 1
	jq -cn --arg d "$doc" --arg s "$sig" --arg a "$aud" \
		'($d | fromjson) as $doc | {document: $d, signature: $s, audience: $a, providerID: ($doc["region-id"] + "." + $doc["instance-id"]),
		 nodeName: ($doc["region-id"] + "." + $doc["private-ipv4"])}'
}
# id_post PORT_INDEX FILE: POST FILE, print "<http code> <seconds>"
id_post() { nsx curl -ks -o /dev/null -w '%{http_code} %{time_total}\n' -H 'Content-Type: application/json' --data-binary "@$2" "$(id_url "$1")$ID_PATH"; }

# id_sa CMD...: kubectl as the token service's ServiceAccount
id_sa() { nsx "$K8S_BIN/kubectl" --kubeconfig "$ID_DIR/sa.kubeconfig" --request-timeout=20s "$@"; }
# id_refused_by_api DESC CMD...: CMD fails, and says Forbidden or denied
id_refused_by_api() {
	local desc=$1 out; shift
	if out=$("$@" 2>&1); then fail "$desc: the API server allowed it"; return; fi
	if grep -qE 'forbidden|Forbidden|denied' <<<"$out"; then
		pass "$desc: refused ($(grep -oE "(is forbidden: User \"[^\"]+\" cannot [a-z]+|ValidatingAdmissionPolicy '[^']+')" <<<"$out" | head -1 || true))"
	else fail "$desc: failed, but not as a refusal: $(head -c 200 <<<"$out")"; fi
}
# id_idload [--as NAME] BODY...: idload at the two replicas; its lines on stdout
id_idload() {
	nsx "$ID_DIR/idload" --service "$(id_url 0),$(id_url 1)" --pin "$(cat "$ID_DIR/service.pin")" --api "https://$API" \
		--ca "$RUN/cp/pki/ca.crt" "$@" 2>>"$ID_DIR/idload.err"
}
# id_identity_csrs JQFILTER: the identity tokens' CSRs through a jq filter
id_identity_csrs() {
	kc get csr -o json | jq -r "[.items[] | select(.spec.groups | index(\"system:bootstrappers:hybridnode:identity\"))] | $1"
}

case_identity() {
	log "identity: token service (2 replicas), fakeimds in ECS's signature shape, $ID_NODE joins with no token"
	if ! assert_release; then fail "identity: not run: make release failed (hybridnode-cluster)"; return; fi
	if ! id_setup; then fail "identity: setup, the token service or fakeimds did not start"; return; fi
	CGO_ENABLED=0 go build -trimpath -o "$ID_DIR/idload" "$REPO_DIR/e2e/idload" || { fail "identity: idload did not build"; return; }

	# 1. the join
	local n=$ID_NODE d r; d=$(node_dir "$n"); r=$d/root
	check "$n: a stock instance: no /etc/hybridnode before the join" test ! -e "$r/etc/hybridnode"
	local pool_url=${POOL_URL:-}
	POOL_URL=$DIST_URL/pool/add-node-$ID_POOL.sh   # what ACK's agent would fetch from addNodeScriptPath
	join_node "$n" join
	POOL_URL=$pool_url
	assert_node "$n"
	assert_ready_and_taints "$n"
	# (kubelet-client-current.pem is an absolute link inside the node: read it there)
	local cn; cn=$(in_node "$n" cat /var/lib/kubelet/pki/kubelet-client-current.pem 2>/dev/null |
		openssl x509 -noout -subject -nameopt multiline 2>/dev/null | sed -n 's/^ *commonName *= *//p' || true)
	expect "$n: its kubelet client certificate's CN is its name derived from the signed document" "system:node:$(k8s_name "$n")" "$cn"
	expect "$n: its CSR was approved by the token service (not auto-approved)" "HybridnodeApproved" \
		"$(id_identity_csrs '[.[] | .status.conditions[]? | select(.type == "Approved") | .reason] | join(",")')"
	if wait_for "$n's token Secret deleted after registration" 30 id_no_tokens; then
		pass "$n: its token Secret is gone after the Node registered"
	else fail "$n: its token Secret is gone after the Node registered ($(id_tokens) left)"; fi
	expect "$n: the instance's record stays (a Lease in hybridnode-system, not a Secret)" 1 \
		"$(kc -n hybridnode-system get leases -l hybridnode.io/record=instance-identity -o name | wc -l)"
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
	id_refused "a signature by another key" 22 signature-refused
	id_nodes_file account.yaml "" 9999999999999999
	id_imds account.yaml
	id_refused "another account" 23 account-not-allowed
	id_imds nodes.yaml
	id_refused "a provider ID that is not the signed instance's" 22 instance-mismatch ALIBABA_CLOUD_PROVIDER_ID=cn-hangzhou.i-e2enotme
	id_refused "a node name that is not the signed instance's (ID_NODE's)" 22 node-name-mismatch ALIBABA_CLOUD_NODE_NAME="$(k8s_name "$ID_NODE")"

	# 3. attacks at the service and the API server
	# a. replay after registration: a fresh signature, then the same request
	local before; before=$(id_tokens)
	if id_request "${N_IP[$ID_NODE]}" >"$ID_DIR/after.json"; then
		local first second
		first=$(id_post 0 "$ID_DIR/after.json"); second=$(id_post 1 "$ID_DIR/after.json")
		expect "$ID_NODE registered: a fresh signature of its instance is refused (409 replay: one token per instance per window, even after registration)" 409 "${first%% *}"
		expect "$ID_NODE registered: the same request at the other replica: refused (409 replay)" 409 "${second%% *}"
		expect "the replays created no token" "$before" "$(id_tokens)"
	else fail "identity: a request could not be captured from fakeimds"; fi
	# b. a stale audience (freshness is the audience's time: ECS signs no signing time)
	if id_request atk1 "$ID_AUDIENCE:$(($(date +%s) - 900))" >"$ID_DIR/stale.json"; then
		local stale; stale=$(id_post 0 "$ID_DIR/stale.json")
		expect "a signature for an audience 15 minutes old: refused (403 stale-signature)" 403 "${stale%% *}"
	else fail "identity: no signature for a stale audience from fakeimds"; fi
	# c. a forged audience: JSON in the audience, which a signer that pastes it
	# verbatim would turn into another account's and instance's document
	local forged; forged="$ID_AUDIENCE:$(date +%s)\",\"owner-account-id\":\"$ID_ACCOUNT\",\"instance-id\":\"i-victim"
	if id_request atk2 "$forged" >"$ID_DIR/forged.json"; then
		local f; f=$(id_post 0 "$ID_DIR/forged.json")
		expect "a forged audience (JSON injected into the signed content): refused (403)" 403 "${f%% *}"
		expect "the forged audience created no token" "$before" "$(id_tokens)"
	else fail "identity: no signature for a forged audience from fakeimds"; fi
	# d. an oversized body
	head -c 100000 /dev/zero | tr '\0' 'a' >"$ID_DIR/big.json"
	local big; big=$(id_post 0 "$ID_DIR/big.json")
	expect "an oversized body: refused (413)" 413 "${big%% *}"
	expect "an oversized body: no token created" "$before" "$(id_tokens)"
	# e. impersonation: valid identities of two other instances, each asking
	# for a name that is not theirs: ID_NODE's, and an on-premises node's
	printf 'apiVersion: v1\nkind: Node\nmetadata: {name: e2e-onprem-db-1}\n' | kc create -f - >/dev/null 2>&1 || true
	local line code decision reason asked
	if id_request atk1 >"$ID_DIR/atk1.json" && id_request atk2 >"$ID_DIR/atk2.json"; then
		for line in "$(id_idload --as "$(k8s_name "$ID_NODE")" "$ID_DIR/atk1.json")" "$(id_idload --as e2e-onprem-db-1 "$ID_DIR/atk2.json")"; do
			read -r _ code decision reason asked _ <<<"$line"
			if [[ $code == 200 && $decision == Denied && $reason == NodeNameNotBound ]]; then
				pass "another instance's valid token asking for system:node:$asked: its CSR is denied ($reason)"
			else fail "another instance's valid token asking for system:node:$asked: want 200 Denied NodeNameNotBound, got [$line]"; fi
		done
	else fail "identity: the attackers' requests could not be made"; fi
	expect "the denied CSRs have no certificate" 0 \
		"$(id_identity_csrs '[.[] | select(.status.conditions[]?.type == "Denied") | select(.status.certificate != null)] | length')"
	# f. the service's ServiceAccount: no read of a Secret, no ServiceAccount
	# token, no Secret written but its own bootstrap tokens
	id_refused_by_api "the service's ServiceAccount reads a Secret it did not create" id_sa -n kube-system get secret "$ID_NAME-tls"
	id_refused_by_api "the service's ServiceAccount lists Secrets" id_sa -n kube-system get secrets
	id_refused_by_api "the service's ServiceAccount asks for a ServiceAccount token" id_sa -n kube-system create token clusterrole-aggregation-controller
	printf '%s\n' 'apiVersion: v1' 'kind: Secret' 'metadata:' '  name: e2e-minted' \
		'  annotations: {kubernetes.io/service-account.name: clusterrole-aggregation-controller}' 'type: kubernetes.io/service-account-token' >"$ID_DIR/minted.yaml"
	id_refused_by_api "the service's ServiceAccount creates a service-account-token Secret" id_sa -n kube-system create -f "$ID_DIR/minted.yaml"
	printf '%s\n' 'apiVersion: v1' 'kind: Secret' 'metadata:' '  name: bootstrap-token-e2eatk' '  labels: {hybridnode.io/credential: instance-identity}' \
		'type: bootstrap.kubernetes.io/token' \
		'stringData: {token-id: e2eatk, token-secret: aaaaaaaaaaaaaaaa, usage-bootstrap-authentication: "true", auth-extra-groups: "system:bootstrappers:kubeadm:default-node-token"}' \
		>"$ID_DIR/kubeadm-group.yaml"
	id_refused_by_api "the service's ServiceAccount creates a bootstrap token in kubeadm's auto-approved group" id_sa -n kube-system create -f "$ID_DIR/kubeadm-group.yaml"
	id_refused_by_api "the service's ServiceAccount deletes a Secret that is not its token" id_sa -n kube-system delete secret "$ID_NAME-tls"
	check "the service's TLS Secret is still there" kc -n kube-system get secret "$ID_NAME-tls"
	# g. a Node under a recorded name with another provider ID (the admission
	# policy; the kubelet's identity impersonated by the admin)
	local atk1_name=cn-hangzhou.10.98.0.1
	printf 'apiVersion: v1\nkind: Node\nmetadata: {name: %s}\nspec: {providerID: cn-hangzhou.i-e2enotatk1}\n' "$atk1_name" >"$ID_DIR/squat-node.yaml"
	id_refused_by_api "system:node:$atk1_name registers with a provider ID that is not its instance's" \
		kc --as "system:node:$atk1_name" --as-group system:nodes create -f "$ID_DIR/squat-node.yaml"
	# h. a node pool's token of the pool group (it proves no instance): a CSR
	# is approved for a name of the pool's form in the VPC CIDR that no Node
	# holds, and denied for a registered node's name or a name outside the pool
	local psecret; psecret=$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')
	printf '%s\n' 'apiVersion: v1' 'kind: Secret' 'metadata: {name: bootstrap-token-e2epl1, namespace: kube-system}' 'type: bootstrap.kubernetes.io/token' \
		'stringData:' '  token-id: e2epl1' "  token-secret: $psecret" '  usage-bootstrap-authentication: "true"' \
		'  auth-extra-groups: system:bootstrappers:hybridnode:pool' "  expiration: $(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)" >"$ID_DIR/pool-token.yaml"
	(umask 077; echo "e2epl1.$psecret" >"$ID_DIR/pool-token")
	if kc create -f "$ID_DIR/pool-token.yaml" >/dev/null; then
		local want
		while read -r line; do
			read -r asked code decision reason _ <<<"$line"
			case $asked in
			"cn-hangzhou.$LAN.99") want="Approved HybridnodeApproved" ;;
			"$(k8s_name "$ID_NODE")") want="Denied NodeNameTaken" ;;
			*) want="Denied NodeNameOutsidePool" ;;
			esac
			expect "a node pool's token (pool group) asking for system:node:$asked" "$want" "$decision $reason"
		done < <(id_idload --token-file "$ID_DIR/pool-token" "cn-hangzhou.$LAN.99" "$(k8s_name "$ID_NODE")" cn-hangzhou.192.168.7.7 e2e-onprem-db-1)
	else fail "identity: the pool token could not be created"; fi
	rm -f "$ID_DIR/pool-token" "$ID_DIR/pool-token.yaml"
	kc -n kube-system delete secret bootstrap-token-e2epl1 >/dev/null 2>&1 || true
	kc delete node e2e-onprem-db-1 "$atk1_name" >/dev/null 2>&1 || true
	kc -n kube-system delete secrets -l "$ID_LABEL" >/dev/null 2>&1 || true
	kc -n hybridnode-system delete leases -l hybridnode.io/record=instance-identity >/dev/null 2>&1 || true

	# 4. load: each instance its identity and its own CSR
	local i
	for ((i = 1; i <= ID_LOAD; i++)); do id_request "$(printf 'load%03d' "$i")" >"$ID_DIR/load-$i.json" || break; done
	local t=$EPOCHREALTIME a0 a1; a0=$(daemon_cpu kube-apiserver)
	id_idload "$ID_DIR"/load-*.json >"$ID_DIR/load.out" || true
	local wall; wall=$(elapsed "$t")
	a1=$(daemon_cpu kube-apiserver)
	local ok; ok=$(awk '$2 == 200 && $3 == "Approved"' "$ID_DIR/load.out" | wc -l)
	expect "load: $ID_LOAD instances at once, each with its identity and its own CSR: all approved (in ${wall}s)" "$ID_LOAD" "$ok"
	if ((ok != ID_LOAD)); then awk '!($2 == 200 && $3 == "Approved")' "$ID_DIR/load.out" | head -5 | sed 's/^/    | /' >&2; fi
	local wrong; wrong=$(awk '$3 == "Approved" {print $1, $5}' "$ID_DIR/load.out" | while read -r f asked; do
		[[ $(jq -r .nodeName "$f") == "$asked" ]] || echo "$f"; done | wc -l)
	expect "load: every approval is for the instance's own name" 0 "$wrong"
	local stats cpu; stats=$(tail -1 "$ID_DIR/idload.err" 2>/dev/null | sed 's/^idload: //')
	cpu=$(awk -v a="$a0" -v b="$a1" -v n="$ID_LOAD" 'BEGIN{printf "%.3f", (b-a)/n}')
	note "identity load: $ID_LOAD instances at 2 replicas, exchange to approved CSR: $stats; all in ${wall}s; kube-apiserver $cpu CPU s per instance"
	# the decisions in the replicas' Prometheus metrics
	local metrics approved denied issued
	metrics=$(nsx curl -ks --max-time 10 "$(id_url 0)/metrics"; nsx curl -ks --max-time 10 "$(id_url 1)/metrics")
	approved=$(awk '/^hybridnode_token_service_csrs_total\{decision="approved"/ {s += $2} END {print s + 0}' <<<"$metrics")
	denied=$(awk '/^hybridnode_token_service_csrs_total\{decision="denied",reason="NodeNameNotBound"/ {s += $2} END {print s + 0}' <<<"$metrics")
	issued=$(awk '/^hybridnode_token_service_tokens_issued_total/ {s += $2} END {print s + 0}' <<<"$metrics")
	check "the replicas' metrics count the approvals ($approved), the NodeNameNotBound denials ($denied) and the tokens issued ($issued)" \
		test "$approved" -ge "$ID_LOAD" -a "$denied" -ge 2 -a "$issued" -ge "$ID_LOAD"
	kc -n kube-system delete secrets -l "$ID_LABEL" >/dev/null 2>&1 || true
	kc -n hybridnode-system delete leases -l hybridnode.io/record=instance-identity >/dev/null 2>&1 || true
}
