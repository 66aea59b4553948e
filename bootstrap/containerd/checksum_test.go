package containerd

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"github.com/hybridnode/hybridnode/assets"
)

func TestChanged(t *testing.T) {
	rendered, err := RenderConfig(ConfigInput{Major: 2, SandboxImage: "registry.k8s.io/pause:3.10.2", SystemdCgroup: true})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(rendered), "\n")
	if !strings.HasPrefix(lines[1], checksumPrefix) {
		t.Fatalf("second line is no checksum line: %q", lines[1])
	}
	// What `nvidia-ctk runtime configure` does to a file: load it as TOML,
	// add its runtime and write it back, comments gone.
	var m map[string]any
	if err := toml.Unmarshal(rendered, &m); err != nil {
		t.Fatal(err)
	}
	rt := m["plugins"].(map[string]any)["io.containerd.cri.v1.runtime"].(map[string]any)
	rt["enable_cdi"] = true
	rt["containerd"].(map[string]any)["runtimes"].(map[string]any)["nvidia"] = map[string]any{
		"runtime_type": "io.containerd.runc.v2", "options": map[string]any{"BinaryName": "/usr/bin/nvidia-container-runtime"}}
	ctk, err := toml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	legacy := strings.Join(append(lines[:1:1], lines[2:]...), "")
	for _, tc := range []struct {
		name    string
		data    string
		changed bool
		why     string
	}{
		{"as rendered", string(rendered), false, ""},
		{"empty", "", false, ""},
		{"blank", "\n  \n", false, ""},
		{"an earlier hybridnode's, without the checksum line", legacy, false, ""},
		{"an earlier hybridnode's, edited", strings.Replace(legacy, "SystemdCgroup = true", "SystemdCgroup = false", 1), false, ""},
		{"nvidia-ctk rewrote it", string(ctk), true, "not written by hybridnode"},
		{"another installation's", "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n", true, "not written by hybridnode"},
		{"a value edited", strings.Replace(string(rendered), "SystemdCgroup = true", "SystemdCgroup = false", 1), true, "changed after hybridnode wrote it"},
		{"a line appended", string(rendered) + "imports = [\"/etc/containerd/conf.d/*.toml\"]\n", true, "changed after hybridnode wrote it"},
		{"a line removed", strings.Join(append(lines[:3:3], lines[4:]...), ""), true, "changed after hybridnode wrote it"},
		{"the checksum edited", strings.Replace(string(rendered), checksumPrefix, checksumPrefix+"0", 1), true, "no longer holds the sha256"},
		{"the checksum's digits replaced", lines[0] + checksumPrefix + strings.Repeat("0", 64) + checksumSuffix + "\n" + strings.Join(lines[2:], ""), true, "not the 000000000000…"},
		{"the header edited", strings.Replace(string(rendered), "Do not edit", "Edit", 1), true, "not written by hybridnode"},
	} {
		changed, why := Changed([]byte(tc.data))
		if changed != tc.changed || !strings.Contains(why, tc.why) || (!changed && why != "") {
			t.Errorf("%s: Changed = %v, %q; want %v, %q", tc.name, changed, why, tc.changed, tc.why)
		}
	}
}

// TestChecksumCoversEveryOutput: every rendering, of either schema, is
// unchanged to Changed, and the header stays its first line.
func TestChecksumCoversEveryOutput(t *testing.T) {
	for _, in := range []ConfigInput{
		{Major: 1, SandboxImage: "p:1"},
		{Major: 1, SandboxImage: "p:1", NvidiaRuntime: "/usr/bin/nvidia-container-runtime", NvidiaDefault: true, SystemdCgroup: true},
		{Major: 2, SandboxImage: "p:1", RestrictOOMScoreAdj: true},
		{Major: 2, SandboxImage: "p:1", NvidiaRuntime: "/usr/bin/nvidia-container-runtime"},
	} {
		out, err := RenderConfig(in)
		if err != nil {
			t.Fatal(err)
		}
		if changed, why := Changed(out); changed {
			t.Errorf("%+v: %s", in, why)
		}
		if !bytes.HasPrefix(out, []byte(assets.Header+"\n"+checksumPrefix)) {
			t.Errorf("%+v: not header, then checksum:\n%s", in, out)
		}
	}
}
