# shellcheck shell=bash
# e2e/lib/base.sh: building blocks of the hybridnode real-cluster harness:
# logging, bounded waits, the namespace's commands, daemons, prerequisites,
# the binary under test, and the results (pass, fail, check, expect).
# Every wait is bounded; every resource lives under $RUN or in the network
# namespace $NETNS so that teardown can find it again.
#
# Network rule: the root namespace only ever addresses loopback. The test LAN
# ($LAN.0/24) exists only inside $NETNS; the control plane, the artifact
# server, the registry, kubectl and systemd-nspawn all run inside it.

# ---------------------------------------------------------------- basics

log() { printf '%s [e2e] %s\n' "$(date +%T.%3N)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
now() { echo "$EPOCHREALTIME"; }
# elapsed START [END]: seconds with one decimal
elapsed() { awk -v a="$1" -v b="${2:-$EPOCHREALTIME}" 'BEGIN{printf "%.1f", b-a}'; }

# wait_for DESC TIMEOUT_S CMD...: poll CMD every 0.25 s until it succeeds.
wait_for() {
	local desc=$1 timeout=$2; shift 2
	local deadline=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			log "timed out after ${timeout}s waiting for: $desc"
			return 1
		fi
		sleep 0.25
	done
}

nsx() { ip netns exec "$NETNS" "$@"; }
kc() { nsx "$K8S_BIN/kubectl" --kubeconfig "$RUN/cp/admin.conf" --request-timeout=20s "$@"; }
kadm() { nsx "$K8S_BIN/kubeadm" "$@"; }

# alive PID: running (a zombie waiting to be reaped counts as gone)
alive() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[[ ${st%% *} != Z ]]
}
# pid_is PID NAME: PID is alive and its command name is NAME (guards against reuse).
pid_is() { [[ -n $1 ]] && alive "$1" && [[ $(cat "/proc/$1/comm" 2>/dev/null) == "$2"* ]]; }

# start_daemon NAME CMD...: run CMD inside $NETNS in its own session,
# output to $RUN/logs/NAME.log, pid to $RUN/pids/NAME.
start_daemon() {
	local name=$1; shift
	mkdir -p "$RUN/logs" "$RUN/pids"
	setsid ip netns exec "$NETNS" "$@" >"$RUN/logs/$name.log" 2>&1 </dev/null 5>&- 6>&- 8>&- &
	echo $! >"$RUN/pids/$name"
	disown $!   # stopped by stop_daemons, never waited for
}

# stop_daemon NAME: one daemon of start_daemon, TERM then KILL (bounded)
stop_daemon() {
	local pid i=0
	[[ -f $RUN/pids/$1 ]] || return 0
	pid=$(cat "$RUN/pids/$1")
	kill -TERM "$pid" 2>/dev/null || return 0
	while alive "$pid" && ((i++ < 30)); do sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------- prerequisites

check_prereqs() {
	local missing=()
	for f in kubeadm kubelet kube-apiserver kube-controller-manager kube-scheduler kubectl; do
		[[ -x $K8S_BIN/$f ]] || missing+=("$K8S_BIN/$f")
	done
	[[ -f $ARTIFACTS/SHA256SUMS ]] || missing+=("$ARTIFACTS/SHA256SUMS")
	[[ -f $PAUSE_DIR/index.json ]] || missing+=("$PAUSE_DIR (OCI layout)")
	[[ -f $BUSYBOX_DIR/index.json ]] || missing+=("$BUSYBOX_DIR (OCI layout)")
	[[ -x $TEMPLATE/lib/systemd/systemd && -f $TEMPLATE.complete ]] || missing+=("$TEMPLATE (node template rootfs, with $TEMPLATE.complete)")
	for c in systemd-nspawn etcd skopeo docker-registry busybox openssl jq nsenter; do
		command -v "$c" >/dev/null || missing+=("command $c")
	done
	if ((${#missing[@]})); then
		log "missing prerequisites (run e2e/build/prepare.sh first):"
		printf '  %s\n' "${missing[@]}" >&2
		return 1
	fi
}

# build_hybridnode: static binary into $RUN/hybridnode (HN_BIN), or the
# given HN_E2E_BINARY.
build_hybridnode() {
	HN_BIN=$RUN/hybridnode
	if [[ -n ${HN_E2E_BINARY:-} ]]; then
		cp "$HN_E2E_BINARY" "$HN_BIN"; return 0
	fi
	log "building hybridnode (CGO_ENABLED=0)"
	if ! (cd "$REPO_DIR" && CGO_ENABLED=0 go build -o "$RUN/hybridnode" ./cmd/hybridnode) >"$RUN/logs/go-build.log" 2>&1; then
		cat "$RUN/logs/go-build.log" >&2
		die "go build ./cmd/hybridnode failed"
	fi
}

# kill_tree PID: PID and its descendants, by id.
kill_tree() {
	local c
	for c in $(pgrep -P "$1"); do kill_tree "$c"; done
	kill -KILL "$1" 2>/dev/null || true
}

# run_bounded SECS CMD...: CMD, killed (with its children) after SECS; 124 then.
run_bounded() {
	local secs=$1 pid rc=0; shift
	"$@" &
	pid=$!
	local deadline=$((SECONDS + secs))
	while kill -0 "$pid" 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			log "timed out after ${secs}s: $*"
			kill_tree "$pid"; wait "$pid" 2>/dev/null || true
			return 124
		fi
		sleep 0.1
	done
	wait "$pid" || rc=$?
	return "$rc"
}

# not CMD...: CMD fails (for check)
not() { ! "$@"; }
sha256() { sha256sum <"$1" | cut -d' ' -f1; }

# ---------------------------------------------------------------- results

PASSED=0 FAILED=0
declare -a FAILURES=()
pass() { PASSED=$((PASSED + 1)); log "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); FAILURES+=("$*"); log "FAIL: $*"; }
# note TEXT: an observation that is no failure, repeated before the summary
declare -a NOTES=()
note() { NOTES+=("$*"); log "NOTE: $*"; }

# Background jobs never count results: they write "pass|fail<TAB>text" lines
# that the harness replays (replay_results) once the job is waited for.
# record FILE pass|fail TEXT
record() { printf '%s\t%s\n' "$2" "$3" >>"$1"; }
# replay_results FILE: count what a background job recorded
replay_results() {
	local st text
	[[ -f $1 ]] || return 0
	while IFS=$'\t' read -r st text; do
		case $st in pass) pass "$text" ;; *) fail "$text" ;; esac
	done <"$1"
}

# check DESC CMD...: pass when CMD succeeds
check() { local d=$1; shift; if "$@" >/dev/null 2>&1; then pass "$d"; else fail "$d"; fi; }
# expect DESC WANT GOT
expect() { if [[ $2 == "$3" ]]; then pass "$1"; else fail "$1: want [$2], got [$3]"; fi; }
