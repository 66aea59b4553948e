//go:build tools

// Package tools pins the commands built by e2e/build/prepare.sh.
package tools

import (
	_ "sigs.k8s.io/cri-tools/cmd/crictl"
)
