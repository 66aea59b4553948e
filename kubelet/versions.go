package kubelet

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"
)

// Supported Kubernetes minors (architecture.md: 1.30 to 1.37).
const (
	MinKubernetesMinor = 30
	MaxKubernetesMinor = 37
)

// SupportedMinor reports whether hybridnode joins Kubernetes 1.<minor>.
func SupportedMinor(minor int) bool {
	return minor >= MinKubernetesMinor && minor <= MaxKubernetesMinor
}

// Version is a release version as Kubernetes and containerd name theirs:
// v<Major>.<Minor>.<Patch>[-<PreRelease>][+<Build>].
type Version struct {
	Major, Minor, Patch int
	PreRelease, Build   string
}

// ParseVersion parses a semantic version such as v1.37.1 or 1.37.1 (the
// leading v is optional; one is removed). It is the one parser of the
// Kubernetes version (and containerd's) on the node and in the cluster
// commands.
func ParseVersion(s string) (Version, error) {
	v, err := version.ParseSemantic(strings.TrimPrefix(s, "v"))
	if err != nil {
		return Version{}, err
	}
	return Version{Major: int(v.Major()), Minor: int(v.Minor()), Patch: int(v.Patch()), PreRelease: v.PreRelease(), Build: v.BuildMetadata()}, nil
}

// String is the version with its leading v: v1.37.1, v1.37.1-rc.0+abc.
func (v Version) String() string {
	s := fmt.Sprintf("v%d.%d.%d", v.Major, v.Minor, v.Patch)
	if v.PreRelease != "" {
		s += "-" + v.PreRelease
	}
	if v.Build != "" {
		s += "+" + v.Build
	}
	return s
}

// Supported reports whether hybridnode joins this Kubernetes version:
// 1.<minor> with SupportedMinor(minor).
func (v Version) Supported() bool { return v.Major == 1 && SupportedMinor(v.Minor) }

// kubeadm configuration API versions.
const (
	KubeadmV1beta3 = "kubeadm.k8s.io/v1beta3"
	KubeadmV1beta4 = "kubeadm.k8s.io/v1beta4"
)

// APIVersionFor is the kubeadm configuration API version hybridnode writes
// for Kubernetes 1.<minor>: v1beta4 from 1.31 (when it was introduced;
// v1beta3 became read-only then and was removed in 1.37), v1beta3 for 1.30.
// It returns "" for minors SupportedMinor refuses.
func APIVersionFor(minor int) string {
	switch {
	case !SupportedMinor(minor):
		return ""
	case minor == 30:
		return KubeadmV1beta3
	}
	return KubeadmV1beta4
}

// pauseVersions is kubeadm's constants.PauseVersion per minor.
//
// Checked: 1.30 3.9 (minikube's table of kubeadm images for v1.30.x);
// 1.31-1.33 3.10 (minikube's table for v1.31.x/v1.32.0; kubeadm v1.33.4
// `config images list`, kubernetes/kubeadm#3232); 1.34 3.10.1 (kubernetes
// PR 130713, merged for 1.34; kubeadm v1.34 `config images list`); 1.35
// 3.10.1 (1.36 is the release that moved off it); 1.36 3.10.2
// (CHANGELOG-1.36.md, v1.36.0: "Updated the pause image to v3.10.2",
// kubernetes PR 138199); 1.37 3.10.2 (cmd/kubeadm/app/constants/constants.go
// at v1.37.1).
var pauseVersions = map[int]string{
	30: "3.9",
	31: "3.10",
	32: "3.10",
	33: "3.10",
	34: "3.10.1",
	35: "3.10.1",
	36: "3.10.2",
	37: "3.10.2",
}

// DefaultSandboxImage is the pause image kubeadm 1.<minor> expects
// (registry.k8s.io/pause:<constants.PauseVersion>), which containerd's
// sandbox image should match. "" for unsupported minors.
func DefaultSandboxImage(minor int) string {
	v, ok := pauseVersions[minor]
	if !ok {
		return ""
	}
	return "registry.k8s.io/pause:" + v
}

// NeedsFailCgroupV1False reports whether joining a cgroup v1 host with
// kubelet 1.<minor> needs failCgroupV1: false in the kubelet configuration.
//
// From 1.35 the kubelet's failCgroupV1 defaults to true and the kubelet
// refuses to start on a cgroup v1 host unless it is explicitly set to false
// (KEP-5573). kubeadm's SystemVerification preflight check likewise fails
// on cgroup v1 when the kubelet is 1.35 or newer (a warning before), so the
// join must also ignore that check (IgnorePreflightErrors
// "SystemVerification").
func NeedsFailCgroupV1False(minor int, cgroupV1 bool) bool {
	return cgroupV1 && minor >= 35
}
