#!/usr/bin/env bash
# e2e/bench/install.sh: the cold-install table of `make bench`. Prints figures, asserts nothing.
#
# Three procedures install the same six real artifacts (the e2e's: containerd tarball, runc,
# kubelet, kubeadm, crictl, CNI plugins tarball; $HN_CACHE/artifacts) into an empty root,
# served on loopback by e2e/bench/throttle:
#   hybridnode  `hybridnode join phase install --root R` (download, verify, extract, install, record)
#   script      a plain sequential shell procedure: curl, sha256sum -c, tar -x, install, one after another
#   floor       the same bytes fetched in parallel straight to disk, nothing verified
# each into an empty root made before its clock starts; and the work floor: the verification and
# unpacking alone, in memory (e2e/bench/workfloor), which no verified install can beat;
# run as pairs A B C A B C ..., HN_BENCH_RUNS times (default 7), first at full speed, then over a
# link throttled to HN_BENCH_RATE bytes/s (default 100 MB/s, an internal OSS endpoint). Medians.
# Then a warm re-run of the install phase, and the footprint.
#
# Needs: e2e/build/prepare.sh's artifacts, go, curl, sha256sum, tar. No root needed; loopback only.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
HN_CACHE=${HN_CACHE:-/var/cache/hybridnode-e2e}
ART=${HN_BENCH_ARTIFACTS:-$HN_CACHE/artifacts}
RUNS=${HN_BENCH_RUNS:-7}
RATE=${HN_BENCH_RATE:-100000000}
[[ -f $ART/SHA256SUMS ]] || { echo "bench: no artifacts in $ART (make e2e-prepare)" >&2; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/hn-bench.XXXXXX")
pids=()
cleanup() { local p; for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT

if [[ -n ${HN_BENCH_BINARY:-} ]]; then cp "$HN_BENCH_BINARY" "$W/hybridnode"
else CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$W/hybridnode" "$REPO/cmd/hybridnode"; fi
CGO_ENABLED=0 go build -trimpath -o "$W/throttle" "$REPO/e2e/bench/throttle"
(cd "$REPO" && CGO_ENABLED=0 go build -trimpath -o "$W/workfloor" ./e2e/bench/workfloor)

URL=
serve() { # serve RATE: starts a server; its base URL in $URL
	local pf=$W/port.$1
	rm -f "$pf"
	"$W/throttle" -dir "$ART" -addr 127.0.0.1:0 -rate "$1" -port-file "$pf" >"$W/throttle.$1.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do [[ -s $pf ]] && break; sleep 0.05; done
	[[ -s $pf ]] || { echo "bench: the file server did not start: $(cat "$W/throttle.$1.log")" >&2; exit 1; }
	URL="http://127.0.0.1:$(cat "$pf")"
}

# One node's artifacts: the versions prepare.sh names (its prepare.env), else
# the newest of each in the tree (which also holds the e2e's older
# containerd and Kubernetes); all three procedures move exactly those files.
penv() { [[ -f $HN_CACHE/prepare.env ]] && sed -n "s/^$1=//p" "$HN_CACHE/prepare.env"; }
ver() { local v; v=$(penv "$2"); [[ -n $v ]] || v=$(sed -n "s|^.*  $1/\(v[^/]*\)/.*|\1|p" "$ART/SHA256SUMS" | sort -V | tail -1); echo "$v"; }
K8S=$(ver kubernetes HN_K8S_VERSION) CTD=$(ver containerd HN_CONTAINERD_VERSION) RUNC=$(ver runc HN_RUNC_VERSION)
CRICTL=$(ver cri-tools HN_CRICTL_VERSION) CNI=$(ver cni-plugins HN_CNI_PLUGINS_VERSION)
mapfile -t RELS < <(awk -v k="kubernetes/$K8S/" -v c="containerd/$CTD/" -v r="runc/$RUNC/" -v t="cri-tools/$CRICTL/" -v n="cni-plugins/$CNI/" \
	'index($2, k) == 1 || index($2, c) == 1 || index($2, r) == 1 || index($2, t) == 1 || index($2, n) == 1 { print $2 }' "$ART/SHA256SUMS")
BYTES=$(cd "$ART" && du -cb "${RELS[@]}" | tail -1 | cut -f1)

# fresh ROOT: an empty root, the previous run's files removed and written
# back before the clock starts (the removal of 300 MB alone takes about
# 0.1 s: no procedure's figure includes it).
fresh() { rm -rf "$1"; mkdir -p "$1"; sync; }

run_hybridnode() { # URL ROOT (empty)
	env -i PATH="$PATH" HYBRIDNODE_ARTIFACT_URL="$1/" HYBRIDNODE_KUBERNETES_VERSION="$K8S" HYBRIDNODE_CONTAINERD_VERSION="$CTD" \
		HYBRIDNODE_RUNC_VERSION="$RUNC" HYBRIDNODE_CRICTL_VERSION="$CRICTL" HYBRIDNODE_CNI_PLUGINS_VERSION="$CNI" \
		"$W/hybridnode" join phase install --root "$2" >"$W/hybridnode.log" 2>&1
}
run_script() { # URL ROOT (empty): what an init-node script does, one file after another
	local u=$1 r=$2 rel d
	mkdir -p "$r/dl" "$r/usr/local/bin" "$r/usr/local/sbin" "$r/opt/cni/bin"
	for rel in "${RELS[@]}"; do
		mkdir -p "$r/dl/$(dirname "$rel")"
		curl -fsS -o "$r/dl/$rel" "$u/$rel"
		(cd "$r/dl" && grep "  $rel\$" "$ART/SHA256SUMS" | sha256sum -c --quiet -)
		case $rel in
		containerd/*) tar -xzf "$r/dl/$rel" -C "$r/usr/local" ;;
		cni-plugins/*) tar -xzf "$r/dl/$rel" -C "$r/opt/cni/bin" ;;
		runc/*) install -m 0755 "$r/dl/$rel" "$r/usr/local/sbin/runc" ;;
		*) d=$r/usr/local/bin/$(basename "$rel"); install -m 0755 "$r/dl/$rel" "$d" ;;
		esac
	done
}
run_floor() { # URL ROOT (empty): every file at once, straight to disk
	local u=$1 r=$2 rel p=()
	for rel in "${RELS[@]}"; do curl -fsS -o "$r/$(basename "$rel")" "$u/$rel" & p+=($!); done
	wait "${p[@]}"
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
timed() { # OUTFILE CMD...: appends the wall seconds
	local t0=$EPOCHREALTIME; "${@:2}"; awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.3f\n", b-a}' >>"$1"
}

bench() { # LABEL URL
	local label=$1 url=$2 i
	: >"$W/$label.hn"; : >"$W/$label.sh"; : >"$W/$label.fl"
	fresh "$W/r"; run_hybridnode "$url" "$W/r" # warm-up: page cache, connections
	for ((i = 0; i < RUNS; i++)); do
		fresh "$W/r"; timed "$W/$label.hn" run_hybridnode "$url" "$W/r"
		fresh "$W/r"; timed "$W/$label.sh" run_script "$url" "$W/r"
		fresh "$W/r"; timed "$W/$label.fl" run_floor "$url" "$W/r"
	done
	HN=$(median <"$W/$label.hn") SH=$(median <"$W/$label.sh") FL=$(median <"$W/$label.fl")
}

echo "hybridnode install benchmark: $(nproc) cores, $(uname -r), $((BYTES / 1000000)) MB in ${#RELS[@]} artifacts, $RUNS paired runs, medians"
echo
serve 0; LOOP=$URL; bench loopback "$LOOP"
printf '%-34s %9s %9s %9s %16s %16s\n' "cold install" hybridnode script floor "script/hybridnode" "hybridnode/floor"
printf '%-34s %8ss %8ss %8ss %16.2f %16.2f\n' "loopback" "$HN" "$SH" "$FL" "$(awk -v a="$SH" -v b="$HN" 'BEGIN{print a/b}')" "$(awk -v a="$HN" -v b="$FL" 'BEGIN{print a/b}')"
# The work floor: the least CPU work any verified install of these bytes
# does (sha256 of each download, gunzip and untar of the tarballs), from
# memory, all at once on every core, nothing written (e2e/bench/workfloor).
read -r WF WFH WFZ < <(cd "$ART" && "$W/workfloor" -runs "$RUNS" "${RELS[@]}")
printf '%-34s %8ss %29s %16.2f   (sha256 %.2fs + gunzip/untar %.2fs of work, on %d cores; no network, no writes)\n' "  work floor (verify + unpack only)" "$WF" "" "$(awk -v a="$HN" -v b="$WF" 'BEGIN{print a/b}')" "$WFH" "$WFZ" "$(nproc)"
LINK=$(awk -v b="$BYTES" -v r="$RATE" 'BEGIN{printf "%.2f", b/r}')
serve "$RATE"; bench link "$URL"
printf '%-34s %8ss %8ss %8ss %16.2f %16.2f\n' "link $((RATE / 1000000)) MB/s (transfer ${LINK}s)" "$HN" "$SH" "$FL" "$(awk -v a="$SH" -v b="$HN" 'BEGIN{print a/b}')" "$(awk -v a="$HN" -v b="$FL" 'BEGIN{print a/b}')"
printf '%-34s %8.2fx %8.2fx %8.2fx   (each / transfer time)\n' "  against the link" "$(awk -v a="$HN" -v b="$LINK" 'BEGIN{print a/b}')" "$(awk -v a="$SH" -v b="$LINK" 'BEGIN{print a/b}')" "$(awk -v a="$FL" -v b="$LINK" 'BEGIN{print a/b}')"

# warm re-run: the same root again, nothing to do
url=$LOOP
fresh "$W/r"; run_hybridnode "$url" "$W/r"
touch "$W/marker"; sleep 0.01
: >"$W/warm"
for ((i = 0; i < RUNS; i++)); do
	local_t0=$EPOCHREALTIME
	env -i PATH="$PATH" HYBRIDNODE_ARTIFACT_URL="$url/" HYBRIDNODE_KUBERNETES_VERSION="$K8S" HYBRIDNODE_CONTAINERD_VERSION="$CTD" \
		HYBRIDNODE_RUNC_VERSION="$RUNC" HYBRIDNODE_CRICTL_VERSION="$CRICTL" HYBRIDNODE_CNI_PLUGINS_VERSION="$CNI" \
		"$W/hybridnode" join phase install --root "$W/r" >>"$W/warm.log" 2>&1
	awk -v a="$local_t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.3f\n", b-a}' >>"$W/warm"
done
writes=$(find "$W/r" -newer "$W/marker" -type f | wc -l)
echo
printf '%-34s %8ss, %d files written (the stat cache: no file hashed again; services: none under --root; a whole warm join on a real node: the scale-out table)\n' "warm re-run of the install phase" "$(median <"$W/warm")" "$writes"

# footprint
rm -rf "$W/r"; mkdir -p "$W/r"
rss=$( { env -i PATH="$PATH" HYBRIDNODE_ARTIFACT_URL="$url/" HYBRIDNODE_KUBERNETES_VERSION="$K8S" HYBRIDNODE_CONTAINERD_VERSION="$CTD" \
	HYBRIDNODE_RUNC_VERSION="$RUNC" HYBRIDNODE_CRICTL_VERSION="$CRICTL" HYBRIDNODE_CNI_PLUGINS_VERSION="$CNI" \
	/usr/bin/time -f '%M' "$W/hybridnode" join phase install --root "$W/r" >/dev/null 2>"$W/rss"; } ; tail -1 "$W/rss")
printf '%-34s %s bytes\n' "binary (stripped)" "$(stat -c %s "$W/hybridnode")"
printf '%-34s %s MB\n' "peak RSS, cold install" "$((rss / 1024))"
printf '%-34s %s\n' "disk under /var/lib/hybridnode" "$(du -sh "$W/r/var/lib/hybridnode" 2>/dev/null | cut -f1)"
