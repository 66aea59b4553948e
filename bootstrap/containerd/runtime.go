package containerd

import (
	"fmt"

	"github.com/pelletier/go-toml/v2"
)

// criRuntimePlugins are the tables of the CRI plugin that hold
// containerd.runtimes: schema v3's first (containerd 2.x), then v2's.
var criRuntimePlugins = []string{"io.containerd.cri.v1.runtime", "io.containerd.grpc.v1.cri"}

// Runtime is one CRI runtime as a config.toml declares it.
type Runtime struct {
	// Plugin is the CRI plugin table it is declared in.
	Plugin string
	// BinaryName is its options.BinaryName: the OCI runtime binary the
	// runc shim runs instead of runc ("" when not set).
	BinaryName string
	// Default: it is the plugin's default_runtime_name.
	Default bool
}

// ReadRuntime finds the runtime called name in a config.toml of either
// schema (as hybridnode writes it, or as anyone else does); found is false
// when the config declares no such runtime. An error means the file is
// not TOML.
func ReadRuntime(data []byte, name string) (rt Runtime, found bool, err error) {
	var cfg struct {
		Plugins map[string]struct {
			Containerd struct {
				DefaultRuntimeName string `toml:"default_runtime_name"`
				Runtimes           map[string]struct {
					Options map[string]any `toml:"options"`
				} `toml:"runtimes"`
			} `toml:"containerd"`
		} `toml:"plugins"`
	}
	if err := toml.Unmarshal(data, &cfg); err != nil {
		return Runtime{}, false, fmt.Errorf("containerd config: %w", err)
	}
	for _, p := range criRuntimePlugins {
		c, ok := cfg.Plugins[p]
		if !ok {
			continue
		}
		r, ok := c.Containerd.Runtimes[name]
		if !ok {
			continue
		}
		bin, _ := r.Options["BinaryName"].(string)
		return Runtime{Plugin: p, BinaryName: bin, Default: c.Containerd.DefaultRuntimeName == name}, true, nil
	}
	return Runtime{}, false, nil
}
