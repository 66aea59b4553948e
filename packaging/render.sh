#!/bin/sh
# Renders a release template (packaging/add-node.sh.in, packaging/dist-README.in):
# @HN_BASE_URL@, @HN_VERSION@, @HN_SHA256_AMD64@ and @HN_SHA256_ARM64@ are
# replaced by the release's base URL, version and the sha256 of both binaries.
# Used by `make release` and by the script tests (packaging/addnode_test.go).
#   render.sh TEMPLATE BASE_URL VERSION SHA256_AMD64 SHA256_ARM64 > FILE
set -eu

if [ $# -ne 5 ]; then
	echo "usage: $0 TEMPLATE BASE_URL VERSION SHA256_AMD64 SHA256_ARM64" >&2
	exit 2
fi
template=$1 base_url=${2%/} version=$3 amd64=$4 arm64=$5

# The values land inside single quotes in the script and in a sed replacement:
# refuse anything that could break out of either.
case $base_url in
http://?* | https://?*) ;;
*)
	printf '%s\n' "render.sh: BASE_URL must be an http:// or https:// URL, got '$base_url'" >&2
	exit 2
	;;
esac
case $base_url in
*[!A-Za-z0-9._~:/?#@!\$\(\)*+,\;=%-]* | *[\'\&\|\\]*)
	printf '%s\n' "render.sh: BASE_URL has characters that need quoting (spaces, quotes, &, |, \\): '$base_url'" >&2
	exit 2
	;;
esac
case $version in
'' | *[!A-Za-z0-9._+~-]*)
	printf '%s\n' "render.sh: VERSION must be letters, digits and . _ + ~ -, got '$version'" >&2
	exit 2
	;;
esac
for sum in "$amd64" "$arm64"; do
	if [ ${#sum} -ne 64 ] || case $sum in *[!0-9a-f]*) true ;; *) false ;; esac then
		printf '%s\n' "render.sh: want a sha256 of 64 lowercase hex digits, got '$sum'" >&2
		exit 2
	fi
done

out=$(sed \
	-e "s|@HN_BASE_URL@|$base_url|g" \
	-e "s|@HN_VERSION@|$version|g" \
	-e "s|@HN_SHA256_AMD64@|$amd64|g" \
	-e "s|@HN_SHA256_ARM64@|$arm64|g" \
	"$template")
case $out in
*@HN_*)
	printf '%s\n' "render.sh: $template has a placeholder left after rendering" >&2
	exit 1
	;;
esac
printf '%s\n' "$out"
