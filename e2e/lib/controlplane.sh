# shellcheck shell=bash
# e2e/lib/controlplane.sh: the kubeadm-phase control plane (etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, the bootstrap
# token and CA hash), the artifact server and the registry, and the
# manifests applied to the cluster (the CNI stand-ins).

# ---------------------------------------------------------------- control plane

write_kubeadm_config() {
	mkdir -p "$RUN/cp"
	cat >"$RUN/cp/kubeadm.yaml" <<EOF
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: $GW
  bindPort: 6443
nodeRegistration:
  name: hn-e2e-control-plane
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: $K8S_VERSION
clusterName: kubernetes
controlPlaneEndpoint: $API
certificatesDir: $RUN/cp/pki
networking:
  serviceSubnet: 10.96.0.0/16
  podSubnet: $POD_PREFIX.0.0/16
  dnsDomain: cluster.local
etcd:
  local:
    dataDir: $RUN/cp/etcd
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
failCgroupV1: false
authentication:
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
EOF
}

# start_apiserver: kube-apiserver on $API (also how a scenario restarts it),
# then wait for /readyz.
start_apiserver() {
	local cp=$RUN/cp pki=$RUN/cp/pki
	start_daemon kube-apiserver "$K8S_BIN/kube-apiserver" \
		--advertise-address="$GW" --bind-address="$GW" --secure-port=6443 \
		--allow-privileged=true --authorization-mode=Node,RBAC \
		--client-ca-file="$pki/ca.crt" --enable-admission-plugins=NodeRestriction \
		--enable-bootstrap-token-auth=true \
		--etcd-servers=https://127.0.0.1:2379 --etcd-cafile="$pki/etcd/ca.crt" \
		--etcd-certfile="$pki/apiserver-etcd-client.crt" --etcd-keyfile="$pki/apiserver-etcd-client.key" \
		--kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" \
		--kubelet-client-key="$pki/apiserver-kubelet-client.key" \
		--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname \
		--proxy-client-cert-file="$pki/front-proxy-client.crt" --proxy-client-key-file="$pki/front-proxy-client.key" \
		--requestheader-allowed-names=front-proxy-client --requestheader-client-ca-file="$pki/front-proxy-ca.crt" \
		--requestheader-extra-headers-prefix=X-Remote-Extra- --requestheader-group-headers=X-Remote-Group \
		--requestheader-username-headers=X-Remote-User \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
		--service-cluster-ip-range=10.96.0.0/16 \
		--tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key"
	wait_for "kube-apiserver /readyz" 60 nsx "$K8S_BIN/kubectl" --kubeconfig "$cp/super-admin.conf" get --raw /readyz ||
		{ tail -30 "$RUN/logs/kube-apiserver.log" >&2; return 1; }
}

# start_controller_manager: kube-controller-manager with the bootstrap signer
# and the token cleaner (also how a case restarts it)
start_controller_manager() {
	local cp=$RUN/cp pki=$RUN/cp/pki
	start_daemon kube-controller-manager "$K8S_BIN/kube-controller-manager" \
		--kubeconfig="$cp/controller-manager.conf" \
		--authentication-kubeconfig="$cp/controller-manager.conf" --authorization-kubeconfig="$cp/controller-manager.conf" \
		--bind-address=127.0.0.1 --leader-elect=false --cluster-name=kubernetes \
		--client-ca-file="$pki/ca.crt" --requestheader-client-ca-file="$pki/front-proxy-ca.crt" \
		--root-ca-file="$pki/ca.crt" --service-account-private-key-file="$pki/sa.key" \
		--cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
		--controllers='*,bootstrapsigner,tokencleaner' --use-service-account-credentials=true \
		--flex-volume-plugin-dir="$cp/flexvolume"
}

start_control_plane() {
	local t0=$EPOCHREALTIME cp=$RUN/cp pki=$RUN/cp/pki
	write_kubeadm_config
	log "control plane: kubeadm init phase certs/kubeconfig"
	kadm init phase certs all --config "$cp/kubeadm.yaml" >"$RUN/logs/kubeadm-init.log" 2>&1
	local k
	for k in admin super-admin controller-manager scheduler; do
		kadm init phase kubeconfig "$k" --config "$cp/kubeadm.yaml" --kubeconfig-dir "$cp" >>"$RUN/logs/kubeadm-init.log" 2>&1
	done

	log "control plane: etcd"
	start_daemon etcd etcd --name hn-e2e-cp --data-dir "$cp/etcd" \
		--listen-client-urls https://127.0.0.1:2379 --advertise-client-urls https://127.0.0.1:2379 \
		--listen-peer-urls https://127.0.0.1:2380 --initial-advertise-peer-urls https://127.0.0.1:2380 \
		--initial-cluster hn-e2e-cp=https://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381 \
		--cert-file "$pki/etcd/server.crt" --key-file "$pki/etcd/server.key" \
		--trusted-ca-file "$pki/etcd/ca.crt" --client-cert-auth \
		--peer-cert-file "$pki/etcd/peer.crt" --peer-key-file "$pki/etcd/peer.key" \
		--peer-trusted-ca-file "$pki/etcd/ca.crt" --peer-client-cert-auth \
		--snapshot-count 10000
	wait_for "etcd health" 30 nsx curl -sf http://127.0.0.1:2381/health || { tail -20 "$RUN/logs/etcd.log" >&2; return 1; }

	log "control plane: kube-apiserver"
	start_apiserver || return 1

	log "control plane: RBAC, upload-config, bootstrap-token"
	{
		# what a real `kubeadm init` creates and `init phase` does not: admin.conf's group binding
		nsx "$K8S_BIN/kubectl" --kubeconfig "$cp/super-admin.conf" create clusterrolebinding kubeadm:cluster-admins \
			--clusterrole=cluster-admin --group=kubeadm:cluster-admins
		kadm init phase upload-config all --config "$cp/kubeadm.yaml" --kubeconfig "$cp/admin.conf"
		kadm init phase bootstrap-token --config "$cp/kubeadm.yaml" --kubeconfig "$cp/admin.conf"
	} >>"$RUN/logs/kubeadm-init.log" 2>&1

	log "control plane: kube-controller-manager, kube-scheduler"
	mkdir -p "$cp/flexvolume"
	start_controller_manager
	start_daemon kube-scheduler "$K8S_BIN/kube-scheduler" \
		--kubeconfig="$cp/scheduler.conf" \
		--authentication-kubeconfig="$cp/scheduler.conf" --authorization-kubeconfig="$cp/scheduler.conf" \
		--bind-address=127.0.0.1 --leader-elect=false

	log "control plane: bootstrap token (TTL 2h) and CA hash"
	# The token goes from kubeadm's stdout straight into a 0600 file: it never
	# appears in a command line of this harness.
	(umask 077; kadm token create --ttl 2h --kubeconfig "$cp/admin.conf" >"$RUN/token" 2>>"$RUN/logs/kubeadm-init.log")
	[[ $(wc -l <"$RUN/token") == 1 ]] || die "kubeadm token create printed no token"
	# pattern file for leak checks: the token's secret half
	(umask 077; cut -d. -f2 "$RUN/token" >"$RUN/token.secret")
	CA_HASH=sha256:$(openssl x509 -pubkey -noout -in "$pki/ca.crt" | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1)
	echo "$CA_HASH" >"$RUN/ca-hash"
	local tokid; tokid=$(cut -d. -f1 "$RUN/token")
	wait_for "cluster-info signed for token $tokid" 60 cluster_info_signed "$tokid" ||
		{ tail -30 "$RUN/logs/kube-controller-manager.log" >&2; return 1; }
	wait_for "default ServiceAccount" 60 kc -n default get serviceaccount default
	log "control plane ready in $(elapsed "$t0")s (CA hash $CA_HASH)"
}

cluster_info_signed() {
	kc -n kube-public get configmap cluster-info -o json | jq -e --arg k "jws-kubeconfig-$1" '.data[$k] != null'
}

# ---------------------------------------------------------------- artifact server and registry

start_servers() {
	log "artifact server http://$GW:$ART_PORT/ (busybox httpd over $ARTIFACTS)"
	start_daemon artifacts busybox httpd -f -vv -p "$GW:$ART_PORT" -h "$ARTIFACTS"
	mkdir -p "$RUN/registry"
	cat >"$RUN/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $RUN/registry
http:
  addr: $GW:$REG_PORT
EOF
	log "registry http://$GW:$REG_PORT (docker-registry)"
	start_daemon registry docker-registry serve "$RUN/registry.yml"
	wait_for "artifact server" 20 nsx curl -sf -o /dev/null "http://$GW:$ART_PORT/SHA256SUMS"
	wait_for "registry" 20 nsx curl -sf -o /dev/null "http://$GW:$REG_PORT/v2/"
	log "pushing images to the registry"
	# registry.k8s.io/pause:3.10.2 -> $GW:$REG_PORT/pause:3.10.2, the path the mirrors resolve to
	push_image "$PAUSE_DIR" "$SANDBOX_IMAGE"
	push_image "$BUSYBOX_DIR" "$BUSYBOX_IMAGE"
}

# push_image OCI_DIR REF: REF's repository path and tag, minus the registry host
push_image() {
	local path=${2#*/}
	nsx skopeo --insecure-policy copy -q --dest-tls-verify=false \
		"oci:$1:${path##*:}" "docker://$GW:$REG_PORT/$path" >>"$RUN/logs/skopeo.log" 2>&1
}

# ---------------------------------------------------------------- manifests

apply_manifest() {
	sed -e "s|__IMAGE__|$BUSYBOX_IMAGE|g" -e "s|__POD_PREFIX__|$POD_PREFIX|g" -e "s|__NODE__|${2:-}|g" \
		-e "s|__POD__|${3:-tainted-workload}|g" "$E2E_DIR/manifests/$1" | kc apply -f - >/dev/null
}
apply_cni_daemonsets() {
	apply_manifest terway.yaml
	apply_manifest calico.yaml
}
