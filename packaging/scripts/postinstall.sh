#!/bin/sh
# hybridnode package: after install or upgrade (.deb postinst, .rpm %post).
# It starts nothing and joins nothing: it says what happened and, when systemd
# is running, reloads its units.
#   deb: $1 = configure, $2 = the previously configured version (empty on a first install)
#   rpm: $1 = how many versions are installed now: 1 = first install, 2 or more = upgrade
set -u

case "${1:-}" in
configure)
	if [ -z "${2:-}" ]; then
		what="installed"
	else
		what="upgraded from $2"
	fi
	;;
1)
	what="installed"
	;;
[2-9] | [1-9][0-9])
	what="upgraded"
	;;
*)
	# deb abort-upgrade, abort-remove, abort-deconfigure: nothing changed
	exit 0
	;;
esac

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload >/dev/null 2>&1 || :
fi

if [ "$what" = "installed" ]; then
	echo "hybridnode: installed /usr/bin/hybridnode; nothing started. Next: edit /etc/hybridnode/config.yaml, then 'hybridnode install' (image) or 'hybridnode join'."
else
	echo "hybridnode: $what; /usr/bin/hybridnode replaced, /etc/hybridnode/config.yaml kept, nothing restarted or re-joined."
fi
exit 0
