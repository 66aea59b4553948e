package hostprep

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/assets"
	"github.com/hybridnode/hybridnode/assets/golden"
)

func TestModulesLoadGolden(t *testing.T) {
	got := ModulesLoad(DefaultModules)
	golden.Check(t, "modules-load", got)
	if !strings.HasPrefix(string(got), assets.Header+"\n") {
		t.Errorf("no header:\n%s", got)
	}
}

func TestModulesLoadDedup(t *testing.T) {
	got := string(ModulesLoad([]string{"overlay", " ", "br_netfilter", "overlay", " ip_vs "}))
	want := assets.Header + "\noverlay\nbr_netfilter\nip_vs\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := string(ModulesLoad(nil)); got != assets.Header+"\n" {
		t.Errorf("ModulesLoad(nil) = %q", got)
	}
}

func TestSysctlGolden(t *testing.T) {
	got := Sysctl(DefaultSysctls)
	golden.Check(t, "sysctl", got)
	want := assets.Header + "\n" +
		"net.bridge.bridge-nf-call-iptables = 1\n" +
		"net.bridge.bridge-nf-call-ip6tables = 1\n" +
		"net.ipv4.ip_forward = 1\n"
	if string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSysctlRepeatedKey(t *testing.T) {
	got := string(Sysctl([]KV{{"a.b", "1"}, {"", "x"}, {"c.d", "2"}, {"a.b", "0"}}))
	want := assets.Header + "\na.b = 0\nc.d = 2\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSysctlPath(t *testing.T) {
	for key, want := range map[string]string{
		"net.ipv4.ip_forward":                "/proc/sys/net/ipv4/ip_forward",
		"net.bridge.bridge-nf-call-iptables": "/proc/sys/net/bridge/bridge-nf-call-iptables",
		"net/ipv4/conf/eth0.100/forwarding":  "/proc/sys/net/ipv4/conf/eth0.100/forwarding",
		" vm.swappiness ":                    "/proc/sys/vm/swappiness",
	} {
		if got := SysctlPath(key); got != want {
			t.Errorf("SysctlPath(%q) = %q, want %q", key, got, want)
		}
	}
	for _, kv := range DefaultSysctls {
		if !strings.HasPrefix(SysctlPath(kv.Key), "/proc/sys/net/") {
			t.Errorf("SysctlPath(%q) = %q", kv.Key, SysctlPath(kv.Key))
		}
	}
}

func TestDisableSwapInFstab(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		changed bool
	}{
		{
			name:    "empty",
			in:      "",
			want:    "",
			changed: false,
		},
		{
			name: "no swap",
			in: "# /etc/fstab\n" +
				"UUID=abc / ext4 defaults 0 1\n" +
				"\n" +
				"tmpfs /tmp tmpfs defaults 0 0\n",
			want: "# /etc/fstab\n" +
				"UUID=abc / ext4 defaults 0 1\n" +
				"\n" +
				"tmpfs /tmp tmpfs defaults 0 0\n",
		},
		{
			name: "swap file and partition, comments and blank lines kept",
			in: "# <file system> <mount point> <type> <options> <dump> <pass>\n" +
				"UUID=abc / ext4 errors=remount-ro 0 1\n" +
				"\n" +
				"/swapfile none swap sw 0 0\n" +
				"   \n" +
				"UUID=def none swap defaults,pri=10 0 0\n",
			want: "# <file system> <mount point> <type> <options> <dump> <pass>\n" +
				"UUID=abc / ext4 errors=remount-ro 0 1\n" +
				"\n" +
				"#/swapfile none swap sw 0 0\n" +
				"   \n" +
				"#UUID=def none swap defaults,pri=10 0 0\n",
			changed: true,
		},
		{
			name:    "tabs and leading whitespace kept",
			in:      "/dev/sda1\t/\text4\tdefaults\t0\t1\n  \t/dev/sda2\tnone\tswap\tsw\t0\t0\n",
			want:    "/dev/sda1\t/\text4\tdefaults\t0\t1\n#  \t/dev/sda2\tnone\tswap\tsw\t0\t0\n",
			changed: true,
		},
		{
			name:    "already commented entries are left alone",
			in:      "#/swapfile none swap sw 0 0\n  # /dev/sdb1 none swap sw 0 0\n",
			want:    "#/swapfile none swap sw 0 0\n  # /dev/sdb1 none swap sw 0 0\n",
			changed: false,
		},
		{
			name:    "no trailing newline",
			in:      "UUID=abc / ext4 defaults 0 1\n/swap.img none swap sw 0 0",
			want:    "UUID=abc / ext4 defaults 0 1\n#/swap.img none swap sw 0 0",
			changed: true,
		},
		{
			name:    "CRLF line endings",
			in:      "/swap.img none swap sw 0 0\r\nUUID=abc / ext4 defaults 0 1\r\n",
			want:    "#/swap.img none swap sw 0 0\r\nUUID=abc / ext4 defaults 0 1\r\n",
			changed: true,
		},
		{
			name:    "swap as mount point or option is not the type field",
			in:      "/dev/sdc1 /swap ext4 defaults 0 2\nserver:/swap /mnt nfs swap 0 0\n",
			want:    "/dev/sdc1 /swap ext4 defaults 0 2\nserver:/swap /mnt nfs swap 0 0\n",
			changed: false,
		},
		{
			name:    "short lines",
			in:      "swap\nnone swap\n",
			want:    "swap\nnone swap\n",
			changed: false,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, changed := DisableSwapInFstab([]byte(tc.in))
			if string(out) != tc.want || changed != tc.changed {
				t.Errorf("got (%q, %v), want (%q, %v)", out, changed, tc.want, tc.changed)
			}
			again, changed2 := DisableSwapInFstab(out)
			if changed2 || !bytes.Equal(again, out) {
				t.Errorf("second pass changed the output: %q -> %q", out, again)
			}
		})
	}
}
