#!/bin/sh
# Turns `git describe --tags --always --dirty` output into a version that
# .deb and .rpm both accept and order correctly (nfpm, version_schema semver):
#   v1.2.3            -> 1.2.3
#   v1.2.3-rc.1       -> 1.2.3-rc.1        (nfpm: 1.2.3~rc.1, before 1.2.3)
#   v1.2.3-4-gabc1234 -> 1.2.3+4.gabc1234  (after 1.2.3)
#   abc1234           -> 0.0.0+gitabc1234  (no tag yet)
#   any of them -dirty: .dirty appended to the +part (or +dirty)
set -eu
v=${1:?usage: pkg-version.sh VERSION}
v=${v#v}
dirty=''
case $v in *-dirty)
	dirty=dirty
	v=${v%-dirty}
	;;
esac
meta=''
case $v in
[0-9]*.[0-9]*.[0-9]*-[0-9]*-g[0-9a-f]*)
	base=${v%-*-g*}
	rest=${v#"$base"-}
	v=$base
	meta=${rest%%-*}.${rest#*-}
	;;
[0-9]*.[0-9]*.[0-9]*) ;;
*)
	meta=git$(printf '%s' "$v" | tr -c 'A-Za-z0-9.' '.')
	v=0.0.0
	;;
esac
if [ -n "$dirty" ]; then
	meta=${meta:+$meta.}$dirty
fi
printf '%s%s\n' "$v" "${meta:++$meta}"
