# shellcheck shell=bash
# e2e/cases/apiserver-down.sh: kube-apiserver stopped while nodes join, and
# while doctor runs on a joined node. The last case that needs the API server.
#
#   1. kube-apiserver stopped; doctor on a joined node: api-server FAIL, remedy
#   2. two joins start while it is down:
#      DOWN_SHORT with joinTimeout 30s and one attempt: it is never back in
#        time, so the join fails after its deadline, exit 7, and its log ends
#        with doctor's api-server finding and remedy
#      DOWN_WAIT with the defaults: kubeadm's discovery waits
#   3. kube-apiserver started again: DOWN_WAIT joins and becomes Ready within
#      its deadline; doctor passes again
#   4. DOWN_SHORT, run again as it was: it joins (a failed run is safe to repeat)

DOWN_SHORT=hn-node-11 DOWN_WAIT=hn-node-12
# joins started with kube-apiserver down: one with a 30s joinTimeout that fails
# and is run again, one that waits for it
define_node hn-node-11 "$LAN.21" cn-hangzhou.i-e2edown11 "cn-hangzhou.$LAN.21" "$CLOUD_LABELS" "" file
define_node hn-node-12 "$LAN.22" cn-hangzhou.i-e2edown12 "cn-hangzhou.$LAN.22" "$CLOUD_LABELS" "workload=ack:NoSchedule" file
register_case apiserver-down --needs ack-join --group faults   # last: what runs after it waits for /readyz
DOWN_SHORT_TIMEOUT=30s
# DOWN_HOLD seconds the API server stays down after DOWN_SHORT's deadline
DOWN_HOLD=${HN_E2E_DOWN_HOLD:-3}

stop_apiserver() {
	local pid t i=0
	pid=$(cat "$RUN/pids/kube-apiserver")
	t=$EPOCHREALTIME
	kill -TERM "$pid" 2>/dev/null || true
	while alive "$pid" && ((i++ < 50)); do sleep 0.1; done
	if alive "$pid"; then
		log "  kube-apiserver still running $(elapsed "$t")s after SIGTERM (its graceful shutdown can take a minute here): SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		i=0
		while alive "$pid" && ((i++ < 50)); do sleep 0.1; done
	fi
	log "  kube-apiserver stopped after $(elapsed "$t")s"
}

# case_apiserver_down: doctor runs on hn-node-1 (joined by ack-join)
case_apiserver_down() {
	local n=hn-node-1 t down
	log "apiserver-down: stopping kube-apiserver ($(cat "$RUN/pids/kube-apiserver"))"
	stop_apiserver
	down=$EPOCHREALTIME

	# joins that start while it is down
	local m
	for m in "$DOWN_SHORT" "$DOWN_WAIT"; do install_hybridnode "$m"; done
	# shellcheck disable=SC2034 # read by join_env
	JOIN_EXTRA_ENV=(HYBRIDNODE_JOIN_TIMEOUT="$DOWN_SHORT_TIMEOUT" HYBRIDNODE_JOIN_ATTEMPTS=1)
	join_node "$DOWN_SHORT" join-down &
	local short_pid=$!
	# shellcheck disable=SC2034 # read by join_env
	JOIN_EXTRA_ENV=()
	join_node "$DOWN_WAIT" join &
	local wait_pid=$!

	doctor_run "$n" apiserver-down
	check "$n: doctor with the API server stopped exits non-zero ($DOC_RC)" test "$DOC_RC" != 0
	local ev rem; ev=$(doc api-server evidence); rem=$(doc api-server remedy)
	if [[ $(doc api-server) == fail && -n $rem ]] && grep -q '^FAIL  api-server' "$DOC_TXT" && grep -A1 '^FAIL  api-server' "$DOC_TXT" | grep -q 'fix: '; then
		pass "$n: doctor: api-server FAIL: $ev | fix: $rem"
	else
		fail "$n: doctor: api-server [$(doc api-server)] $ev | fix: $rem"; show_doctor
	fi

	wait "$short_pid" || true
	local d; d=$(node_dir "$DOWN_SHORT")
	local took; took=$(elapsed "$(cat "$d/join-down.start")" "$(cat "$d/join-down.end")")
	expect "$DOWN_SHORT: join with the API server never back within joinTimeout $DOWN_SHORT_TIMEOUT: exit code (after ${took}s)" 7 "$(cat "$d/join-down.rc")"
	local initlog=$d/root/var/log/acs/init.log
	check "$DOWN_SHORT: its log names the deadline (did not finish within joinTimeout)" grep -q 'did not finish within joinTimeout (30s' "$initlog"
	if grep -q 'doctor: FAIL api-server: TCP connect to '"$API" "$initlog" && grep -A1 'doctor: FAIL api-server' "$initlog" | grep -q 'fix: check that kube-apiserver runs'; then
		pass "$DOWN_SHORT: its log ends with doctor's finding and remedy: $(grep -A1 'doctor: FAIL api-server' "$initlog" | tail -1 | sed 's/^ *//')"
	else
		fail "$DOWN_SHORT: its log ends with doctor's api-server finding and remedy"; tail -15 "$initlog" >&2
	fi
	check "$DOWN_SHORT: no token file left after the failed join" test ! -e "$d/root/etc/hybridnode/kubeadm-join.yaml"
	check "$DOWN_WAIT: still joining while the API server is down" kill -0 "$wait_pid"
	sleep "$DOWN_HOLD"

	log "apiserver-down: starting kube-apiserver again after $(elapsed "$down")s down"
	t=$EPOCHREALTIME
	mv "$RUN/logs/kube-apiserver.log" "$RUN/logs/kube-apiserver.before-stop.log"
	if start_apiserver; then pass "kube-apiserver restarted, /readyz ok after $(elapsed "$t")s"
	else fail "kube-apiserver restarted and ready"; wait "$wait_pid" || true; return; fi
	doctor_run "$n" apiserver-up
	expect "$n: doctor after the restart: api-server" pass "$(doc api-server)"
	# kube-controller-manager's watches were refused while kube-apiserver
	# started (RBAC not loaded yet), and its informers then back off for up to
	# 4 min here before they sign a CSR. The case is about the node waiting, so
	# it is restarted, as an operator would.
	stop_daemon kube-controller-manager
	mv "$RUN/logs/kube-controller-manager.log" "$RUN/logs/kube-controller-manager.before-restart.log"
	start_controller_manager

	wait "$wait_pid" || true
	d=$(node_dir "$DOWN_WAIT")
	expect "$DOWN_WAIT: join started with the API server down, back within the deadline: exit code ($(elapsed "$(cat "$d/join.start")" "$(cat "$d/join.end")")s)" 0 "$(cat "$d/join.rc")"
	assert_node "$DOWN_WAIT"

	join_node "$DOWN_SHORT" join
	assert_node "$DOWN_SHORT"   # the same join run again with the API server back
	assert_ready_and_taints "$DOWN_WAIT" "$DOWN_SHORT"
}
