package commandtest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap/command"
)

func TestFake(t *testing.T) {
	f := &Fake{}
	f.On("kubeadm", func(c command.Cmd) (command.Result, error) {
		if slices.Contains(c.Args, "version") {
			return command.Result{Stdout: []byte("v1.37.1\n")}, nil
		}
		return command.Result{Stderr: []byte("preflight failed"), ExitCode: 1}, nil
	})
	f.On("broken", func(command.Cmd) (command.Result, error) {
		return command.Result{ExitCode: -1}, errors.New("exec: not found")
	})
	for _, tc := range []struct {
		name     string
		c        command.Cmd
		wantOut  string
		wantExit bool
		wantErr  bool
	}{
		{name: "unscripted succeeds", c: command.Cmd{Name: "modprobe", Args: []string{"overlay"}}},
		{name: "scripted output", c: command.Cmd{Name: "kubeadm", Args: []string{"version", "-o", "short"}}, wantOut: "v1.37.1\n"},
		{name: "scripted exit code", c: command.Cmd{Name: "kubeadm", Args: []string{"join"}}, wantExit: true, wantErr: true},
		{name: "scripted error", c: command.Cmd{Name: "broken"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var live bytes.Buffer
			tc.c.Stdout = &live
			res, err := f.Run(context.Background(), tc.c)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			var xe *command.ExitError
			if errors.As(err, &xe) != tc.wantExit {
				t.Errorf("err %v: want ExitError %v", err, tc.wantExit)
			}
			if tc.wantExit && !strings.Contains(err.Error(), "preflight failed") {
				t.Errorf("error %q lacks stderr", err)
			}
			if string(res.Stdout) != tc.wantOut || live.String() != tc.wantOut {
				t.Errorf("stdout = %q (live %q), want %q", res.Stdout, live.String(), tc.wantOut)
			}
		})
	}
	want := []string{"modprobe overlay", "kubeadm version -o short", "kubeadm join", "broken"}
	if got := f.Lines(); !slices.Equal(got, want) {
		t.Errorf("calls = %q, want %q", got, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Run(ctx, command.Cmd{Name: "modprobe"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Run err = %v", err)
	}
}

func TestFakeConcurrent(t *testing.T) {
	f := &Fake{}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			f.Run(context.Background(), command.Cmd{Name: "echo", Args: []string{strconv.Itoa(i)}})
		})
	}
	wg.Wait()
	if n := len(f.History()); n != 16 {
		t.Errorf("%d calls recorded, want 16", n)
	}
}
