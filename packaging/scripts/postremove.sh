#!/bin/sh
# hybridnode package: after removal (.deb postrm, .rpm %postun).
# It stops nothing and resets nothing: a joined node keeps running.
#   deb: $1 = remove | purge | upgrade | failed-upgrade | abort-install | abort-upgrade | disappear
#   rpm: $1 = how many versions remain: 0 = removed, 1 or more = this is the old half of an upgrade
set -u

case "${1:-}" in
remove | 0)
	echo "hybridnode: removed /usr/bin/hybridnode; /etc/hybridnode/config.yaml, /var/lib/hybridnode and the node's kubelet and containerd are left as they are ('kubeadm reset' undoes a join)."
	;;
purge)
	echo "hybridnode: purged; /var/lib/hybridnode and the node's kubelet and containerd are left as they are ('kubeadm reset' undoes a join)."
	;;
*)
	# upgrade (the new version's postinstall reports it), aborts: nothing to say
	;;
esac
exit 0
