package deps

import (
	_ "github.com/containerd/containerd"
	_ "github.com/coreos/go-systemd/v22/dbus"
	_ "github.com/coreos/go-systemd/v22/journal"
	_ "github.com/pelletier/go-toml/v2"
	_ "github.com/pmezard/go-difflib/difflib"
	_ "github.com/spf13/cobra"
	_ "go.uber.org/zap"
	_ "k8s.io/apimachinery/pkg/util/validation"
	_ "k8s.io/apimachinery/pkg/util/wait"
	_ "k8s.io/cri-api/pkg/apis/runtime/v1"
	_ "sigs.k8s.io/yaml"
)
