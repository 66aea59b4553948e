package hoststate

import (
	"bufio"
	"bytes"
	"path"
	"runtime"
	"strings"

	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
)

// Facts are what hybridnode learns about the host, read through the file
// seam so that a test root can fake them. Zero values mean unknown.
type Facts struct {
	Arch          string // amd64, arm64
	OSFamily      string // debian, rhel, or "" (unknown: Debian paths)
	UnitDir       string // DebianUnitDir or RHELUnitDir
	KubeletEnv    string // EnvFileDebian or EnvFileRHEL
	PID1          string // command name of PID 1
	CgroupVersion int    // 1 or 2; 0 unknown
	// NvidiaRuntime is the host path of the NVIDIA container toolkit's
	// nvidia-container-runtime; "" when it is not on the node.
	NvidiaRuntime string
}

// Probe reads the host facts under the root.
func Probe(f hostfs.FS) Facts {
	facts := Facts{Arch: runtime.GOARCH, UnitDir: DebianUnitDir, KubeletEnv: EnvFileDebian}
	if data, err := f.ReadFile("/etc/os-release"); err == nil {
		facts.OSFamily = osFamily(data)
	}
	if facts.OSFamily == "rhel" {
		facts.UnitDir, facts.KubeletEnv = RHELUnitDir, EnvFileRHEL
	}
	if data, err := f.ReadFile("/proc/1/comm"); err == nil {
		facts.PID1 = strings.TrimSpace(string(data))
	}
	if _, err := f.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		facts.CgroupVersion = 2
	} else if _, err := f.Stat("/sys/fs/cgroup"); err == nil {
		facts.CgroupVersion = 1
	}
	facts.NvidiaRuntime = probeNvidiaRuntime(f)
	return facts
}

// osFamily reads ID and ID_LIKE from os-release.
func osFamily(osRelease []byte) string {
	vals := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(osRelease))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			vals[k] = strings.Trim(v, `"'`)
		}
	}
	words := strings.Fields(vals["ID"] + " " + vals["ID_LIKE"])
	for _, w := range words {
		switch w {
		case "debian", "ubuntu":
			return "debian"
		case "rhel", "centos", "fedora", "alinux", "anolis", "rocky", "almalinux":
			return "rhel"
		}
	}
	return ""
}

// UnitDirs are the directories a unit file is looked for in, in order.
func (f Facts) UnitDirs() []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range []string{EtcUnitDir, f.UnitDir, DebianUnitDir, RHELUnitDir} {
		if d != "" && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// UnitFile is the host path of unit's file, or "" when there is none.
func UnitFile(f hostfs.FS, facts Facts, unit string) string {
	for _, d := range facts.UnitDirs() {
		p := path.Join(d, unit)
		if _, err := f.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// NvidiaRuntimeBinary is the NVIDIA container toolkit's runtime: where it
// is, the node is a GPU node.
const NvidiaRuntimeBinary = "nvidia-container-runtime"

// NvidiaRuntimeDirs are where nvidia-container-runtime is looked for under
// the root: ToolPath (the toolkit's packages install it in /usr/bin), then
// the directory the GPU Operator's toolkit container installs it in.
var NvidiaRuntimeDirs = append(append([]string{}, ToolPath...), "/usr/local/nvidia/toolkit")

// probeNvidiaRuntime returns the host path of the first executable
// nvidia-container-runtime in NvidiaRuntimeDirs, or "".
func probeNvidiaRuntime(f hostfs.FS) string {
	for _, d := range NvidiaRuntimeDirs {
		p := path.Join(d, NvidiaRuntimeBinary)
		if fi, err := f.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	return ""
}
