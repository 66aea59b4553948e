# shellcheck shell=bash
# e2e/cases/rhel.sh: an Alibaba Cloud Linux 3-like node (a simulation: see
# e2e/README.md): the .rpm installed with `rpm -i`, then `hybridnode join`;
# RHEL paths (/etc/sysconfig/kubelet, units in /usr/lib/systemd/system), the
# rendered JoinConfiguration and containerd config against cases/expected,
# Ready, doctor passes.

RHEL_NODE=hn-node-15
define_node "$RHEL_NODE" "$LAN.25" cn-hangzhou.i-e2ealinux15 "cn-hangzhou.$LAN.25" "$CLOUD_LABELS" "" file
declare -gA N_OS   # lib/nodes.sh declares it too
# shellcheck disable=SC2034 # read by lib/nodes.sh's prepare_node_root
N_OS[$RHEL_NODE]=alinux3
register_case rhel

# alinux_root ROOT: make a Debian node root look like Alibaba Cloud Linux 3
# to hybridnode and to systemd, before it boots: its os-release, no
# /etc/debian_version, /etc/sysconfig, no /etc/default/kubelet. Units live in
# /usr/lib/systemd/system there (on bookworm /lib is a link to usr/lib, as on
# Alibaba Cloud Linux 3).
alinux_root() {
	local r=$1
	rm -f "$r/etc/os-release" "$r/etc/debian_version" "$r/etc/default/kubelet"
	cat >"$r/etc/os-release" <<'EOF'
NAME="Alibaba Cloud Linux"
VERSION="3 (OpenAnolis Edition)"
ID="alinux"
ID_LIKE="rhel fedora centos anolis"
VERSION_ID="3"
PLATFORM_ID="platform:al8"
PRETTY_NAME="Alibaba Cloud Linux 3 (hybridnode e2e simulation on a Debian root)"
EOF
	mkdir -p "$r/etc/sysconfig"
}

# case_rhel: the .rpm with rpm -i, a join, RHEL paths, Ready, doctor.
case_rhel() {
	local n=$RHEL_NODE d r rpm rc
	d=$(node_dir "$n"); r=$d/root
	log "rhel: $n looks like Alibaba Cloud Linux 3; the .rpm, then hybridnode join"
	check "$n: /etc/os-release says ID=\"alinux\"" in_node "$n" grep -qx 'ID="alinux"' /etc/os-release
	check "$n: /etc/os-release says VERSION_ID=\"3\"" in_node "$n" grep -qx 'VERSION_ID="3"' /etc/os-release
	check "$n: systemd reads it (hostnamectl: Alibaba Cloud Linux 3)" grep -q 'Alibaba Cloud Linux 3' <<<"$(in_node "$n" hostnamectl 2>&1)"
	if ! assert_release; then fail "$n: no .rpm: make release failed"; return; fi
	rpm=$(compgen -G "$RUN/dist/hybridnode-*.x86_64.rpm" | head -1)
	[[ -n $rpm ]] || { fail "$n: no hybridnode-*.x86_64.rpm in $RUN/dist"; return; }
	cp "$rpm" "$r/root/"
	rc=0; run_bounded 120 in_node "$n" rpm -i "/root/${rpm##*/}" >"$d/rpm.log" 2>&1 || rc=$?
	rm -f "$r/root/${rpm##*/}"
	expect "$n: rpm -i ${rpm##*/} exit code" 0 "$rc"
	check "$n: rpm -q hybridnode knows the package" in_node "$n" rpm -q hybridnode
	expect "$n: /usr/bin/hybridnode is the release's (sha256)" "$(sha256 "$RUN/dist/hybridnode-linux-amd64")" "$(sha256 "$r/usr/bin/hybridnode")"
	check "$n: the package started nothing (no kubelet, no containerd unit)" \
		bash -c "[[ ! -e '$r/usr/local/bin/kubelet' && ! -e '$r/usr/lib/systemd/system/containerd.service' ]]"
	write_node_config "$n"
	expect_plan "$n"
	join_and_assert "$n"
	expect_file "$n: /etc/containerd/config.toml (containerd 2.x, schema v3)" "$n" containerd-config-v3.toml "$r/etc/containerd/config.toml"
	check "$n: kubelet.service in /usr/lib/systemd/system, as on the RHEL family" test -f "$r/usr/lib/systemd/system/kubelet.service"
	check "$n: nothing written to /etc/default (no /etc/default/kubelet)" test ! -e "$r/etc/default/kubelet"
	check "$n: the kubeadm drop-in reads /etc/sysconfig/kubelet" \
		grep -q 'EnvironmentFile=-/etc/sysconfig/kubelet' "$r/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"
	check "$n: systemd runs kubelet with the sysconfig file" \
		grep -q /etc/sysconfig/kubelet <<<"$(in_node "$n" systemctl show -P EnvironmentFiles kubelet)"
	if node_ready "$(k8s_name "$n")"; then assert_doctor_healthy "$n"; else fail "$n: doctor: the node is not Ready"; fi
	assert_no_token_leak "$n"
}
