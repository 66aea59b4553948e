package packaging_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The package scripts as dpkg and rpm call them: one line saying what
// happened (or none), exit 0, no join, and daemon-reload only when systemd
// runs.
func TestPackageScripts(t *testing.T) {
	_, err := os.Stat("/run/systemd/system")
	systemd := err == nil
	cases := []struct {
		script string
		args   []string
		want   string // "" = prints nothing
	}{
		{"postinstall.sh", []string{"configure", ""}, "hybridnode: installed /usr/bin/hybridnode; nothing started."},
		{"postinstall.sh", []string{"configure"}, "hybridnode: installed /usr/bin/hybridnode; nothing started."},
		{"postinstall.sh", []string{"configure", "0.1.0-1"}, "hybridnode: upgraded from 0.1.0-1; /usr/bin/hybridnode replaced"},
		{"postinstall.sh", []string{"1"}, "hybridnode: installed /usr/bin/hybridnode; nothing started."},
		{"postinstall.sh", []string{"2"}, "hybridnode: upgraded; /usr/bin/hybridnode replaced"},
		{"postinstall.sh", []string{"abort-upgrade", "0.2.0"}, ""},
		{"postremove.sh", []string{"remove"}, "hybridnode: removed /usr/bin/hybridnode;"},
		{"postremove.sh", []string{"0"}, "hybridnode: removed /usr/bin/hybridnode;"},
		{"postremove.sh", []string{"purge"}, "hybridnode: purged;"},
		{"postremove.sh", []string{"upgrade", "0.2.0-1"}, ""},
		{"postremove.sh", []string{"1"}, ""},
	}
	for _, shell := range shells(t) {
		for _, c := range cases {
			dir := t.TempDir()
			calls := filepath.Join(dir, "calls")
			fake := "#!/bin/sh\necho \"systemctl $*\" >>" + calls + "\n"
			if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte(fake), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(shell, append([]string{filepath.Join("scripts", c.script)}, c.args...)...)
			cmd.Env = []string{"PATH=" + dir}
			out, err := cmd.CombinedOutput()
			name := filepath.Base(shell) + " " + c.script + " " + strings.Join(c.args, " ")
			if err != nil {
				t.Errorf("%s: %v\n%s", name, err, out)
				continue
			}
			switch lines := strings.Count(string(out), "\n"); {
			case c.want == "" && len(out) != 0:
				t.Errorf("%s printed %q, want nothing", name, out)
			case c.want != "" && (lines != 1 || !strings.HasPrefix(string(out), c.want)):
				t.Errorf("%s printed %q, want one line starting %q", name, out, c.want)
			}
			got, _ := os.ReadFile(calls)
			wantCalls := ""
			if systemd && c.script == "postinstall.sh" && c.want != "" {
				wantCalls = "systemctl daemon-reload\n"
			}
			if string(got) != wantCalls {
				t.Errorf("%s ran %q, want %q (systemd running: %v)", name, got, wantCalls, systemd)
			}
		}
	}
}

func TestPackageScriptsStartNothing(t *testing.T) {
	join := regexp.MustCompile(`(^|[;&|\s])(hybridnode|kubeadm|systemctl\s+(start|restart|enable))\b`)
	for _, s := range []string{"scripts/postinstall.sh", "scripts/postremove.sh"} {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			code := strings.TrimSpace(line)
			if strings.HasPrefix(code, "#") || strings.HasPrefix(code, "echo ") {
				continue
			}
			if join.MatchString(code) {
				t.Errorf("%s:%d runs something: %s", s, i+1, line)
			}
		}
	}
	b, err := os.ReadFile("scripts/postinstall.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then\n\tsystemctl daemon-reload") {
		t.Error("postinstall.sh must run systemctl daemon-reload only when /run/systemd/system exists")
	}
}
