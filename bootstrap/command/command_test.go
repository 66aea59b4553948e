package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
)

func TestCmdString(t *testing.T) {
	for _, tc := range []struct {
		c    Cmd
		want string
	}{
		{Cmd{Name: "true"}, "true"},
		{Cmd{Name: "sysctl", Args: []string{"-p", "/etc/sysctl.d/99-hybridnode.conf"}}, "sysctl -p /etc/sysctl.d/99-hybridnode.conf"},
		{Cmd{Name: "sh", Args: []string{"-c", "echo a b"}}, "sh -c 'echo a b'"},
		{Cmd{Name: "echo", Args: []string{"it's", ""}}, `echo 'it'\''s' ''`},
		{Cmd{Name: "x", Args: []string{"$HOME", "a;b"}, Env: []string{"TOKEN=secret"}}, "x '$HOME' 'a;b'"},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("String() = %s, want %s", got, tc.want)
		}
	}
}

func TestExec(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	for i := 1; i <= 20; i++ {
		lines = append(lines, fmt.Sprintf("echo line%d >&2", i))
	}
	for _, tc := range []struct {
		name       string
		c          Cmd
		wantOut    string
		wantErrOut string
		wantCode   int
		wantExit   bool     // error wraps *ExitError
		errHas     []string // error text must contain
		errHasNot  []string
		wantErr    bool
	}{
		{name: "true", c: Cmd{Name: "/bin/true"}},
		{name: "output", c: Cmd{Name: "/bin/sh", Args: []string{"-c", "echo out; echo err >&2"}}, wantOut: "out\n", wantErrOut: "err\n"},
		{name: "false", c: Cmd{Name: "/bin/false"}, wantCode: 1, wantExit: true, wantErr: true, errHas: []string{"/bin/false", "exit code 1"}},
		{name: "exit code and stderr", c: Cmd{Name: "/bin/sh", Args: []string{"-c", "echo boom >&2; exit 3"}},
			wantErrOut: "boom\n", wantCode: 3, wantExit: true, wantErr: true, errHas: []string{"/bin/sh -c 'echo boom >&2; exit 3'", "exit code 3", "boom"}},
		{name: "stderr tail", c: Cmd{Name: "/bin/sh", Args: []string{"-c", strings.Join(lines, ";") + "; exit 2"}},
			wantErrOut: "", wantCode: 2, wantExit: true, wantErr: true, errHas: []string{"line11", "line20"}, errHasNot: []string{"line10\n"}},
		{name: "env appended", c: Cmd{Name: "/bin/sh", Args: []string{"-c", `echo "$HN_TEST_VAR"; test -n "$PATH"`}, Env: []string{"HN_TEST_VAR=bar"}}, wantOut: "bar\n"},
		{name: "dir", c: Cmd{Name: "/bin/pwd", Dir: dir}, wantOut: dir + "\n"},
		{name: "stdin", c: Cmd{Name: "/bin/cat", Stdin: strings.NewReader("piped")}, wantOut: "piped"},
		{name: "missing binary", c: Cmd{Name: "/nonexistent/bin"}, wantCode: -1, wantErr: true, errHas: []string{"/nonexistent/bin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var liveOut, liveErr bytes.Buffer
			tc.c.Stdout, tc.c.Stderr = &liveOut, &liveErr
			res, err := Exec{}.Run(context.Background(), tc.c)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			var xe *ExitError
			if errors.As(err, &xe) != tc.wantExit {
				t.Errorf("err %v: ExitError = %v, want %v", err, !tc.wantExit, tc.wantExit)
			}
			if tc.wantExit {
				var oe *exec.ExitError
				if !errors.As(err, &oe) || xe.Code != tc.wantCode {
					t.Errorf("ExitError = %+v, want code %d wrapping *exec.ExitError", xe, tc.wantCode)
				}
			}
			for _, s := range tc.errHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			for _, s := range tc.errHasNot {
				if strings.Contains(err.Error()+"\n", s) {
					t.Errorf("error %q has %q", err, s)
				}
			}
			if res.ExitCode != tc.wantCode {
				t.Errorf("ExitCode = %d, want %d", res.ExitCode, tc.wantCode)
			}
			if string(res.Stdout) != tc.wantOut || liveOut.String() != tc.wantOut {
				t.Errorf("stdout = %q (live %q), want %q", res.Stdout, liveOut.String(), tc.wantOut)
			}
			if tc.wantErrOut != "" && (string(res.Stderr) != tc.wantErrOut || liveErr.String() != tc.wantErrOut) {
				t.Errorf("stderr = %q (live %q), want %q", res.Stderr, liveErr.String(), tc.wantErrOut)
			}
		})
	}
}

// TestExecCancelKillsGroup checks that a context deadline kills the command
// and its children, and that Run returns promptly.
func TestExecCancelKillsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Exec{}.Run(ctx, Cmd{Name: "/bin/sh", Args: []string{"-c", "sleep 30 & echo $! > " + pidFile + "; wait"}})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "/bin/sh") {
		t.Fatalf("err = %v, want a deadline error naming the command", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Run took %v after cancel", d)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		// Gone, or a zombie waiting for a reaper: either way it was killed.
		if err != nil || strings.Contains(string(stat), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d still running: %s", pid, stat)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDryRun(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	rec := &hostfs.Recorder{}
	r := DryRun(rec)
	c := Cmd{Name: "/bin/sh", Args: []string{"-c", "touch " + marker + "; exit 1"}}
	res, err := r.Run(context.Background(), c)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("dry run = %+v, %v; want success", res, err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("dry run executed the command")
	}
	want := []hostfs.Change{{Op: hostfs.OpCommand, Path: "/bin/sh", Detail: c.String()}}
	if got := rec.Changes(); !slices.Equal(got, want) {
		t.Errorf("changes = %+v, want %+v", got, want)
	}
}

// TestExecWithholdsTheToken: a command never gets HYBRIDNODE_TOKEN, with
// no Env of its own (which inherits the rest of the environment) or with
// one (even one that names it); the other variables, hybridnode's and the
// cloud's, it inherits.
func TestExecWithholdsTheToken(t *testing.T) {
	const secret = "0123456789abcdef"
	t.Setenv("HYBRIDNODE_TOKEN", "abcdef."+secret)
	t.Setenv("HYBRIDNODE_TOKEN_FILE", "/etc/hybridnode/token")
	t.Setenv("ALIBABA_CLOUD_NODE_NAME", "cn-hangzhou.10.0.0.7")
	for name, env := range map[string][]string{
		"nil Env":                 nil,
		"empty Env":               {},
		"Env of its own":          {"HTTPS_PROXY=http://10.0.0.5:3128"},
		"Env that names it again": {"HYBRIDNODE_TOKEN=abcdef." + secret},
	} {
		t.Run(name, func(t *testing.T) {
			res, err := Exec{}.Run(context.Background(), Cmd{Name: "/usr/bin/env", Env: env})
			if err != nil {
				t.Fatal(err)
			}
			got := string(res.Stdout)
			if strings.Contains(got, secret) || strings.Contains(got, "HYBRIDNODE_TOKEN=") {
				t.Errorf("the child got the token:\n%s", got)
			}
			for _, want := range append([]string{"HYBRIDNODE_TOKEN_FILE=/etc/hybridnode/token", "ALIBABA_CLOUD_NODE_NAME=cn-hangzhou.10.0.0.7"}, env...) {
				if !strings.Contains(want, secret) && !slices.Contains(strings.Split(got, "\n"), want) {
					t.Errorf("the child lacks %s:\n%s", want, got)
				}
			}
		})
	}
}
