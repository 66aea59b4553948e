// Package packaging holds what ships hybridnode besides the Go code, and its
// tests:
//
//   - add-node.sh.in: the addNodeScriptPath script; `make release` renders it
//     with render.sh into dist/add-node.sh (base URL, version, both sha256s).
//   - config.yaml: the packages' commented default /etc/hybridnode/config.yaml.
//   - scripts/: the .deb/.rpm postinstall and postremove scripts (nfpm.yaml).
//   - check-packages.sh, pkg-version.sh, dist-README.in: `make package-check`,
//     the package version, dist/README.
//
// The tests run the rendered script under bash and dash against a loopback
// HTTP server, run the package scripts, and check the default config against
// bootstrap/config.
package packaging
