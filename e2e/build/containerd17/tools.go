//go:build tools

// Package tools pins the containerd 1.7 commands built by e2e/build/prepare.sh
// (one e2e node runs containerd 1.7 with the schema v2 config).
package tools

import (
	_ "github.com/containerd/containerd/cmd/containerd"
	_ "github.com/containerd/containerd/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/cmd/ctr"
)
