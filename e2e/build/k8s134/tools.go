//go:build tools

// Package tools pins the commands built by e2e/build/prepare.sh.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kubeadm"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
