# shellcheck shell=bash
# e2e/cases/gpu.sh: a GPU node, simulated at its smallest piece.
#
# An ECS GPU image carries the NVIDIA driver and container toolkit; here a stub
# /usr/bin/nvidia-container-runtime that execs runc stands in for the toolkit
# (no GPU, no driver, no CDI spec: see e2e/README.md). hybridnode finds it on
# PATH and gives containerd an `nvidia` runtime with CDI on; the Node gets
# nvidia.com/gpu.present=true; a pod with runtimeClassName nvidia runs through
# the stub (its log on the node shows the call).

GPU_NODE=hn-node-17
define_node "$GPU_NODE" "$LAN.27" cn-hangzhou.i-e2egpu17 "cn-hangzhou.$LAN.27" "$CLOUD_LABELS" "" file
register_case gpu

case_gpu() {
	local n=$GPU_NODE d r json
	d=$(node_dir "$n"); r=$d/root
	log "gpu: $n with a stub nvidia-container-runtime (execs runc)"
	cat >"$r/usr/bin/nvidia-container-runtime" <<'EOF'
#!/bin/sh
# e2e stand-in for the NVIDIA container toolkit's runtime: log the call, run runc
echo "$(date +%s) $*" >>/var/log/nvidia-container-runtime-e2e.log
exec /usr/local/sbin/runc "$@"
EOF
	chmod 0755 "$r/usr/bin/nvidia-container-runtime"
	install_hybridnode "$n"
	join_and_assert "$n"
	json=$(kc get node "$(k8s_name "$n")" -o json 2>/dev/null || echo '{}')
	expect "$n: label nvidia.com/gpu.present" true "$(jq -r '.metadata.labels["nvidia.com/gpu.present"] // "<unset>"' <<<"$json")"
	in_node "$n" containerd config dump >"$d/config-dump.toml" 2>"$d/config-dump.err" || true
	check "$n: containerd config dump shows the nvidia runtime" grep -q 'runtimes.nvidia\]' "$d/config-dump.toml"
	check "$n: containerd config dump: the nvidia runtime runs the toolkit's binary" grep -qE "BinaryName = [\"']/usr/bin/nvidia-container-runtime[\"']" "$d/config-dump.toml"
	check "$n: containerd config dump: CDI enabled" grep -q 'enable_cdi = true' "$d/config-dump.toml"
	check "$n: runc stays the default runtime (gpuDefaultRuntime is off)" grep -qE "default_runtime_name = [\"']runc[\"']" "$d/config-dump.toml"
	expect_file "$n: /etc/containerd/config.toml (with the nvidia runtime)" "$n" containerd-config-v3-nvidia.toml "$r/etc/containerd/config.toml"
	# the RuntimeClass, as the README shows it
	apply_manifest runtimeclass-nvidia.yaml
	apply_manifest gpu-pod.yaml "$(k8s_name "$n")"
	if wait_for "pod gpu-workload Running" 120 pod_running gpu-workload; then
		pass "$n: a pod with runtimeClassName nvidia runs"
		expect "$n: kubectl logs of the nvidia pod" "hello from gpu-workload" "$(kc logs gpu-workload 2>&1 | head -1)"
		check "$n: the pod's container was created through nvidia-container-runtime (the stub's log)" \
			grep -q ' create ' "$r/var/log/nvidia-container-runtime-e2e.log"
	else
		kc describe pod gpu-workload | tail -15 >&2
		fail "$n: a pod with runtimeClassName nvidia runs"
	fi
	doctor_run "$n" gpu
	expect "$n: doctor's gpu check ($(doc gpu evidence))" pass "$(doc gpu)"
	# never rewritten behind the toolkit's back: the config edited as
	# `nvidia-ctk runtime configure` does (hybridnode's header gone), then the
	# containerd phase again: refused, the file untouched
	local before rc=0
	sed -i 1d "$r/etc/containerd/config.toml"
	before=$(sha256 "$r/etc/containerd/config.toml")
	run_bounded 60 in_node "$n" hybridnode join phase containerd >"$d/phase-containerd.log" 2>&1 || rc=$?
	expect "$n: join phase containerd over an edited config.toml: exit code" 6 "$rc"
	check "$n: the refusal names /etc/containerd/config.toml" grep -q '/etc/containerd/config.toml' "$d/phase-containerd.log"
	expect "$n: the edited config.toml is left as it was (sha256)" "$before" "$(sha256 "$r/etc/containerd/config.toml")"
	assert_no_token_leak "$n"
}
