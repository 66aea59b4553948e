#!/bin/sh
# Checks the .deb and .rpm that `make package` wrote, with the tools a user
# would use: dpkg-deb -c / -I / --fsys-tarfile and rpm -qlp / -qp --scripts /
# -qcp. Every problem is listed; exit 1 when there is any.
#   check-packages.sh DIST BIN ARCH...      (make package-check)
set -u

if [ $# -lt 3 ]; then
	echo "usage: $0 DIST BIN ARCH..." >&2
	exit 2
fi
dist=$1 bin=$2
shift 2
for tool in dpkg-deb rpm sha256sum tar; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "package-check: $tool is required (apt-get install -y rpm dpkg tar coreutils)" >&2
		exit 2
	}
done

problems=0
checks=0
bad() {
	echo "  FAIL $*"
	problems=$((problems + 1))
}
# expect WHAT HAYSTACK NEEDLE: NEEDLE must be one of HAYSTACK's lines.
expect() {
	checks=$((checks + 1))
	if ! printf '%s\n' "$2" | grep -qxF -- "$3"; then
		bad "$1: no line '$3'"
	fi
}
# one PATTERN: the single file matching PATTERN, or empty.
one() {
	# shellcheck disable=SC2086 # PATTERN is a glob
	set -- $1
	if [ $# -eq 1 ] && [ -f "$1" ]; then
		echo "$1"
	fi
}

for arch in "$@"; do
	case $arch in
	amd64) rpmarch=x86_64 ;;
	arm64) rpmarch=aarch64 ;;
	*) rpmarch=$arch ;;
	esac
	binary=$bin/hybridnode-linux-$arch
	if [ ! -f "$binary" ]; then
		bad "$binary missing (make build)"
		continue
	fi
	sum=$(sha256sum <"$binary")
	sum=${sum%% *}

	deb=$(one "$dist/hybridnode_*_$arch.deb")
	if [ -z "$deb" ]; then
		bad "want exactly one $dist/hybridnode_*_$arch.deb (make package)"
	else
		echo "$deb"
		list=$(dpkg-deb -c "$deb" | awk '{print $1, $2, $NF}')
		expect "dpkg-deb -c" "$list" "-rwxr-xr-x root/root ./usr/bin/hybridnode"
		expect "dpkg-deb -c" "$list" "drwxr-xr-x root/root ./etc/hybridnode/"
		expect "dpkg-deb -c" "$list" "-rw------- root/root ./etc/hybridnode/config.yaml"
		expect "dpkg-deb -c" "$list" "drwxr-xr-x root/root ./var/lib/hybridnode/"
		expect "dpkg-deb -c" "$list" "-rw-r--r-- root/root ./usr/share/doc/hybridnode/LICENSE"
		expect "dpkg-deb -c" "$list" "-rw-r--r-- root/root ./usr/share/doc/hybridnode/README.md"
		fields=$(dpkg-deb -f "$deb" Package Architecture)
		expect "dpkg-deb -f" "$fields" "Package: hybridnode"
		expect "dpkg-deb -f" "$fields" "Architecture: $arch"
		expect "dpkg-deb -I conffiles" "$(dpkg-deb -I "$deb" conffiles 2>&1)" "/etc/hybridnode/config.yaml"
		checks=$((checks + 2))
		dpkg-deb -I "$deb" postinst | cmp -s - packaging/scripts/postinstall.sh ||
			bad "dpkg-deb -I postinst: not packaging/scripts/postinstall.sh"
		dpkg-deb -I "$deb" postrm | cmp -s - packaging/scripts/postremove.sh ||
			bad "dpkg-deb -I postrm: not packaging/scripts/postremove.sh"
		checks=$((checks + 2))
		got=$(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./usr/bin/hybridnode | sha256sum)
		[ "${got%% *}" = "$sum" ] || bad "$deb: /usr/bin/hybridnode is not $binary (sha256 ${got%% *})"
		dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./etc/hybridnode/config.yaml | cmp -s - packaging/config.yaml ||
			bad "$deb: /etc/hybridnode/config.yaml is not packaging/config.yaml"
	fi

	rpm=$(one "$dist/hybridnode-*.$rpmarch.rpm")
	if [ -z "$rpm" ]; then
		bad "want exactly one $dist/hybridnode-*.$rpmarch.rpm (make package)"
	else
		echo "$rpm"
		list=$(rpm -qlp "$rpm" 2>&1)
		for f in /usr/bin/hybridnode /etc/hybridnode /etc/hybridnode/config.yaml /var/lib/hybridnode \
			/usr/share/doc/hybridnode/LICENSE /usr/share/doc/hybridnode/README.md; do
			expect "rpm -qlp" "$list" "$f"
		done
		expect "rpm -qcp" "$(rpm -qcp "$rpm" 2>&1)" "/etc/hybridnode/config.yaml"
		expect "rpm -qdp" "$(rpm -qdp "$rpm" 2>&1)" "/usr/share/doc/hybridnode/README.md"
		expect "rpm -qLp" "$(rpm -qLp "$rpm" 2>&1)" "/usr/share/doc/hybridnode/LICENSE"
		expect "rpm -qp NAME ARCH" "$(rpm -qp --qf '%{NAME} %{ARCH}\n' "$rpm" 2>&1)" "hybridnode $rpmarch"
		files=$(rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpm" 2>&1)
		expect "rpm -qp file modes" "$files" "-rwxr-xr-x root:root  /usr/bin/hybridnode"
		expect "rpm -qp file modes" "$files" "-rw------- root:root cn /etc/hybridnode/config.yaml"
		expect "rpm -qp file modes" "$files" "drwxr-xr-x root:root  /var/lib/hybridnode"
		expect "rpm -qp file digests" "$(rpm -qp --qf '[%{FILEDIGESTS} %{FILENAMES}\n]' "$rpm" 2>&1)" "$sum /usr/bin/hybridnode"
		scripts=$(rpm -qp --scripts "$rpm" 2>&1)
		expect "rpm -qp --scripts" "$scripts" "postinstall scriptlet (using /bin/sh):"
		expect "rpm -qp --scripts" "$scripts" "postuninstall scriptlet (using /bin/sh):"
		expect "rpm -qp --scripts" "$scripts" "if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then"
		checks=$((checks + 1))
		if printf '%s\n' "$scripts" | grep -v '^[[:space:]]*#' | grep -v "^[[:space:]]*echo " | grep -qE '(^|[;&|[:space:]])(hybridnode|kubeadm)[[:space:]]+join'; then
			bad "rpm -qp --scripts: a scriptlet runs a join"
		fi
	fi
done

echo "package-check: $checks checks, $problems problems"
[ "$problems" -eq 0 ]
