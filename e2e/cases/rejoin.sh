# shellcheck shell=bash
# e2e/cases/rejoin.sh: a second `hybridnode join` on hn-node-1, joined by
# ack-join: exit 0, no mtime changed under /etc, /var/lib/hybridnode and
# /usr/local/bin, neither containerd nor kubelet restarted (NRestarts,
# ActiveEnterTimestamp, MainPID, InvocationID), no token in any command line
# sampled during it.

register_case rejoin --needs ack-join

case_rejoin() {
	if [[ $(cat "$(node_dir hn-node-1)/join.rc") == 0 ]]; then assert_rejoin_idempotent hn-node-1
	else fail "second join: the first join of hn-node-1 failed"; fi
}

file_mtimes() { in_node "$1" sh -c 'find /etc /var/lib/hybridnode /usr/local/bin -printf "%T@ %y %p\n" 2>/dev/null | sort -k3'; }
service_state() { in_node "$1" systemctl show -p Id -p NRestarts -p ActiveEnterTimestampMonotonic -p MainPID -p InvocationID containerd kubelet; }

assert_rejoin_idempotent() {
	local n=$1 d; d=$(node_dir "$1")
	file_mtimes "$n" >"$d/mtimes.before"; service_state "$n" >"$d/services.before"
	start_cmdline_sampler
	join_node "$n" rejoin
	stop_cmdline_sampler
	file_mtimes "$n" >"$d/mtimes.after"; service_state "$n" >"$d/services.after"
	expect "$n: second hybridnode join exit code" 0 "$(cat "$d/rejoin.rc")"
	local changed; changed=$(diff "$d/mtimes.before" "$d/mtimes.after" | grep '^[<>]' | awk '{print $1, $4}' | sort -k2 -u | awk '{print $2}' | paste -sd' ' || true)
	if [[ -z $changed ]]; then pass "$n: second join changed no file under /etc /var/lib/hybridnode /usr/local/bin"
	else fail "$n: second join changed files: $changed"; fi
	if diff -q "$d/services.before" "$d/services.after" >/dev/null; then pass "$n: second join restarted no service (containerd, kubelet)"
	else fail "$n: second join restarted a service: $(diff "$d/services.before" "$d/services.after" | grep '^[<>]' | paste -sd' ')"; fi
	local hits; hits=$(sort -u "$RUN/cmdline-hits" | paste -sd';')
	if [[ -n $hits ]]; then fail "bootstrap token in process command lines during the second join: $hits"; fi
}
