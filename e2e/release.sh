# shellcheck shell=bash
# e2e/release.sh: `make release BASE_URL=http://10.77.0.1:8081` in the
# background from the start of the run, its outcome asserted once
# (assert_release) by the first case that needs it; dist/ served on :8081;
# the fake instance metadata service on :8082; the guard that counts every
# packet to the real metadata address.

DIST_URL=http://$GW:$DIST_PORT
MD_URL=http://$GW:$MD_PORT
RELEASE_TIMEOUT=${HN_E2E_RELEASE_TIMEOUT:-600}
IMDS_ADDR=100.100.100.200   # the real ECS metadata address: must never see a packet

# ---------------------------------------------------------------- make release

# start_release_build: `make release BASE_URL=$DIST_URL` into $RUN/dist, in the
# background from the start of the run (it builds both arches, packs the
# .deb/.rpm and checks them). Writes $RUN/release.rc when done.
start_release_build() {
	mkdir -p "$RUN/dist"
	(
		trap - ERR
		set +e
		cd "$REPO_DIR" || { echo 1 >"$RUN/release.rc"; exit 1; }
		echo "e2e: make release BASE_URL=$DIST_URL DIST=$RUN/dist"
		make release BASE_URL="$DIST_URL" DIST="$RUN/dist"
		rc=$?
		echo "$EPOCHREALTIME" >"$RUN/release.end"
		echo "$rc" >"$RUN/release.rc"
	) >"$RUN/logs/make-release.log" 2>&1 </dev/null 5>&- 6>&- 8>&- &
	echo $! >"$RUN/release.pid"
	disown $!   # waited for through release.rc; stopped by stop_scenario_jobs
	echo "$EPOCHREALTIME" >"$RUN/release.start"
	log "make release BASE_URL=$DIST_URL started in the background (log: $RUN/logs/make-release.log)"
}

# wait_release: 0 when make release succeeded and dist/ has what the
# scenarios need. Any process may call it (it polls a file).
wait_release() {
	local deadline=$((SECONDS + RELEASE_TIMEOUT))
	while [[ ! -f $RUN/release.rc ]]; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
	[[ $(cat "$RUN/release.rc") == 0 ]] && [[ -f $RUN/dist/add-node.sh && -f $RUN/dist/hybridnode-linux-amd64 ]] &&
		compgen -G "$RUN/dist/hybridnode_*_amd64.deb" >/dev/null
}

# stop_scenario_jobs (teardown): a make release or a bake still running,
# by their process ids.
stop_scenario_jobs() {
	local pid
	if [[ -n ${BAKE_PID:-} ]] && kill -0 "$BAKE_PID" 2>/dev/null; then
		log "stopping the bake ($BAKE_PID)"; kill_tree "$BAKE_PID"
		wait "$BAKE_PID" 2>/dev/null || true
	fi
	if [[ -f $RUN/release.pid && ! -f $RUN/release.rc ]]; then
		pid=$(cat "$RUN/release.pid")
		if pid_is "$pid" bash; then log "stopping make release ($pid)"; kill_tree "$pid"; fi
	fi
	if [[ -n ${SAMPLER_PID:-} ]] && kill -0 "$SAMPLER_PID" 2>/dev/null; then   # an abort mid-case
		touch "$RUN/sampler.stop" 2>/dev/null || true
		kill_tree "$SAMPLER_PID"
	fi
	return 0
}

# assert_release: make release's outcome, once (in the foreground).
RELEASE_OK=
assert_release() {
	[[ -n $RELEASE_OK ]] && { [[ $RELEASE_OK == yes ]]; return; }
	if ! wait_release; then
		RELEASE_OK=no
		fail "make release BASE_URL=$DIST_URL: failed or not done in ${RELEASE_TIMEOUT}s (exit $(cat "$RUN/release.rc" 2>/dev/null || echo none)); last lines of $RUN/logs/make-release.log: $(tail -3 "$RUN/logs/make-release.log" 2>/dev/null | paste -sd' ')"
		return 1
	fi
	RELEASE_OK=yes
	elapsed "$(cat "$RUN/release.start")" "$(cat "$RUN/release.end")" >"$RUN/release.seconds"
	pass "make release BASE_URL=$DIST_URL: dist/ with add-node.sh, binaries, packages, SHA256SUMS ($(find "$RUN/dist" -type f | wc -l) files)"
	check "dist/SHA256SUMS verifies every file it lists" bash -c "cd '$RUN/dist' && sha256sum --quiet -c SHA256SUMS"
	local sum; sum=$(sha256 "$RUN/dist/hybridnode-linux-amd64")
	check "dist/add-node.sh carries hybridnode-linux-amd64's sha256 and $DIST_URL" \
		bash -c "grep -qx \"hn_sha256_amd64='$sum'\" '$RUN/dist/add-node.sh' && grep -qx \"hn_base_url='$DIST_URL'\" '$RUN/dist/add-node.sh'"
}

# ---------------------------------------------------------------- servers

# start_scenario_servers: dist/ on :8081, the fake instance metadata service
# on :8082 (hn-node-7's answers), and a guard that counts every packet to the
# real metadata address reaching the test LAN's gateway.
start_scenario_servers() {
	local md=$RUN/metadata/latest/meta-data ip=${N_IP[hn-node-7]}
	log "release server $DIST_URL/ (busybox httpd over $RUN/dist)"
	mkdir -p "$RUN/dist"   # the release build fills it (none in the scale-out benchmark)
	start_daemon dist busybox httpd -f -vv -p "$GW:$DIST_PORT" -h "$RUN/dist"
	mkdir -p "$md"
	echo cn-hangzhou >"$md/region-id"
	echo i-e2emeta07 >"$md/instance-id"
	echo "$ip" >"$md/private-ipv4"
	echo "$LAN.0/24" >"$md/vpc-cidr-block"
	log "fake instance metadata $MD_URL/latest/meta-data/ (busybox httpd: GET only, a PUT gets 501)"
	start_daemon metadata busybox httpd -f -vv -p "$GW:$MD_PORT" -h "$RUN/metadata"
	nsx iptables -w -t raw -I PREROUTING -d "$IMDS_ADDR" -j DROP
	nsx iptables -w -t raw -I OUTPUT -d "$IMDS_ADDR" -j DROP
	wait_for "release server" 20 nsx curl -s -o /dev/null "$DIST_URL/"
	wait_for "metadata service" 20 nsx curl -sf -o /dev/null "$MD_URL/latest/meta-data/region-id"
}

imds_packets() {
	nsx iptables -w -t raw -L -v -x -n 2>/dev/null | awk -v a="$IMDS_ADDR" '$NF == a {s += $1} END {print s + 0}'
}
assert_no_imds_traffic() {
	expect "no packet to $IMDS_ADDR (the real ECS metadata service) reached the test LAN" 0 "$(imds_packets)"
}
