package systemd

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
)

var unitDirs = []string{"/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"}

const (
	wants  = "/etc/systemd/system/multi-user.target.wants/"
	libDir = "/lib/systemd/system/"
)

// offlineRoot returns a root holding units (host path -> content).
func offlineRoot(t *testing.T, units map[string]string) (string, hostfs.FS) {
	t.Helper()
	root := t.TempDir()
	for p, content := range units {
		real := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(real), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(real, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := hostfs.New(root)
	if err != nil {
		t.Fatal(err)
	}
	return root, f
}

// links lists every symlink under root/etc/systemd/system as host path -> target.
func links(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	filepath.WalkDir(filepath.Join(root, "etc/systemd/system"), func(p string, de fs.DirEntry, err error) error {
		if err == nil && de.Type()&fs.ModeSymlink != 0 {
			tgt, _ := os.Readlink(p)
			m[strings.TrimPrefix(p, root)] = tgt
		}
		return nil
	})
	return m
}

func TestOfflineEnable(t *testing.T) {
	const kubelet = "[Unit]\nDescription=kubelet\n[Service]\nExecStart=/usr/local/bin/kubelet\n[Install]\nWantedBy=multi-user.target\n"
	for _, tc := range []struct {
		name      string
		units     map[string]string
		preLinks  map[string]string
		unit      string
		wantLinks map[string]string
		wantErr   []string // error text parts; nil = success
		notExist  bool
	}{
		{
			name:      "wanted by multi-user",
			units:     map[string]string{libDir + "kubelet.service": kubelet},
			unit:      "kubelet.service",
			wantLinks: map[string]string{wants + "kubelet.service": libDir + "kubelet.service"},
		},
		{
			name:      "found in the usr unit dir",
			units:     map[string]string{"/usr/lib/systemd/system/containerd.service": "[Install]\nWantedBy=multi-user.target\n"},
			unit:      "containerd.service",
			wantLinks: map[string]string{wants + "containerd.service": "/usr/lib/systemd/system/containerd.service"},
		},
		{
			name: "earlier dir wins",
			units: map[string]string{
				"/etc/systemd/system/x.service": "[Install]\nWantedBy=a.target\n",
				libDir + "x.service":            "[Install]\nWantedBy=b.target\n",
			},
			unit:      "x.service",
			wantLinks: map[string]string{"/etc/systemd/system/a.target.wants/x.service": "/etc/systemd/system/x.service"},
		},
		{
			name:  "several targets, requires and alias",
			units: map[string]string{libDir + "y.service": "[Install]\nWantedBy=multi-user.target graphical.target\nRequiredBy=z.service\nAlias=yy.service\n"},
			unit:  "y.service",
			wantLinks: map[string]string{
				wants + "y.service": libDir + "y.service",
				"/etc/systemd/system/graphical.target.wants/y.service": libDir + "y.service",
				"/etc/systemd/system/z.service.requires/y.service":     libDir + "y.service",
				"/etc/systemd/system/yy.service":                       libDir + "y.service",
			},
		},
		{
			name:      "stale link is replaced",
			units:     map[string]string{libDir + "kubelet.service": kubelet},
			preLinks:  map[string]string{wants + "kubelet.service": "/usr/lib/systemd/system/kubelet.service"},
			unit:      "kubelet.service",
			wantLinks: map[string]string{wants + "kubelet.service": libDir + "kubelet.service"},
		},
		{
			name:    "no install section",
			units:   map[string]string{libDir + "static.service": "[Service]\nExecStart=/bin/true\n"},
			unit:    "static.service",
			wantErr: []string{"static.service", "no [Install]"},
		},
		{
			name:     "missing unit",
			unit:     "nope.service",
			wantErr:  []string{"nope.service", "/lib/systemd/system"},
			notExist: true,
		},
		{name: "invalid name", unit: "../x.service", wantErr: []string{"invalid unit name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, f := offlineRoot(t, tc.units)
			for l, tgt := range tc.preLinks {
				if _, err := f.Symlink(tgt, l); err != nil {
					t.Fatal(err)
				}
			}
			m := NewOffline(f, unitDirs)
			changed, err := m.Enable(context.Background(), tc.unit)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatal("Enable succeeded, want an error")
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q lacks %q", err, s)
					}
				}
				if errors.Is(err, fs.ErrNotExist) != tc.notExist {
					t.Errorf("errors.Is(%v, ErrNotExist) = %v", err, !tc.notExist)
				}
				return
			}
			if err != nil || !changed {
				t.Fatalf("Enable = %v, %v; want changed", changed, err)
			}
			if got := links(t, root); !maps.Equal(got, tc.wantLinks) {
				t.Errorf("links = %v, want %v", got, tc.wantLinks)
			}
			if changed, err := m.Enable(context.Background(), tc.unit); err != nil || changed {
				t.Errorf("second Enable = %v, %v; want unchanged", changed, err)
			}
		})
	}
}

func TestOfflineDisable(t *testing.T) {
	root, f := offlineRoot(t, map[string]string{
		libDir + "y.service": "[Install]\nWantedBy=multi-user.target\nAlias=yy.service\n",
		libDir + "o.service": "[Install]\nWantedBy=multi-user.target\n",
	})
	m := NewOffline(f, unitDirs)
	ctx := context.Background()
	for _, u := range []string{"y.service", "o.service"} {
		if _, err := m.Enable(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	// A link left by an older install, and the alias taken over by another unit.
	for l, tgt := range map[string]string{
		"/etc/systemd/system/old.target.wants/y.service": libDir + "y.service",
		"/etc/systemd/system/yy.service":                 libDir + "other.service",
	} {
		if _, err := f.Symlink(tgt, l); err != nil {
			t.Fatal(err)
		}
	}

	changed, err := m.Disable(ctx, "y.service")
	if err != nil || !changed {
		t.Fatalf("Disable = %v, %v; want changed", changed, err)
	}
	want := map[string]string{
		wants + "o.service":              libDir + "o.service",
		"/etc/systemd/system/yy.service": libDir + "other.service",
	}
	if got := links(t, root); !maps.Equal(got, want) {
		t.Errorf("links after disable = %v, want %v", got, want)
	}
	if changed, err := m.Disable(ctx, "y.service"); err != nil || changed {
		t.Errorf("second Disable = %v, %v; want unchanged", changed, err)
	}
}

func TestOfflineNoLiveHost(t *testing.T) {
	_, f := offlineRoot(t, nil)
	m := NewOffline(f, unitDirs)
	defer m.Close()
	ctx := context.Background()
	for name, op := range map[string]func() error{
		"daemon-reload": func() error { return m.DaemonReload(ctx) },
		"start":         func() error { return m.Start(ctx, "kubelet.service") },
		"restart":       func() error { return m.Restart(ctx, "kubelet.service") },
		"stop":          func() error { return m.Stop(ctx, "kubelet.service") },
	} {
		if err := op(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if s, err := m.ActiveState(ctx, "kubelet.service"); s != "unknown" || err != nil {
		t.Errorf("ActiveState = %q, %v", s, err)
	}
	if m.Live() {
		t.Error("offline manager claims a live host")
	}
}

func TestOfflineOverDryRunFS(t *testing.T) {
	root, base := offlineRoot(t, map[string]string{libDir + "kubelet.service": "[Install]\nWantedBy=multi-user.target\n"})
	rec := &hostfs.Recorder{}
	m := NewOffline(hostfs.DryRun(base, rec), unitDirs)
	for i, want := range []bool{true, false} {
		if changed, err := m.Enable(context.Background(), "kubelet.service"); err != nil || changed != want {
			t.Fatalf("Enable #%d = %v, %v; want %v", i+1, changed, err, want)
		}
	}
	got := rec.Changes()
	if len(got) != 1 || got[0].Op != hostfs.OpSymlink || got[0].Path != wants+"kubelet.service" {
		t.Errorf("changes = %+v, want one symlink", got)
	}
	if l := links(t, root); len(l) != 0 {
		t.Errorf("dry run created links: %v", l)
	}
}

// TestJob covers the D-Bus job wait with a stand-in for StartUnitContext.
func TestJob(t *testing.T) {
	enqueueErr := errors.New("unit not found")
	for _, tc := range []struct {
		name    string
		result  string // "" = never reported
		enqErr  error
		wantErr []string
		wantIs  error
	}{
		{name: "done", result: "done"},
		{name: "failed", result: "failed", wantErr: []string{"start kubelet.service", `"failed"`}},
		{name: "dependency", result: "dependency", wantErr: []string{"kubelet.service", "dependency"}},
		{name: "enqueue error", enqErr: enqueueErr, wantErr: []string{"kubelet.service"}, wantIs: enqueueErr},
		{name: "no result before the deadline", wantErr: []string{"kubelet.service"}, wantIs: context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			fn := func(_ context.Context, name, mode string, ch chan<- string) (int, error) {
				if name != "kubelet.service" || mode != "replace" {
					t.Errorf("job(%q, %q)", name, mode)
				}
				if tc.enqErr != nil {
					return 0, tc.enqErr
				}
				if tc.result != "" {
					go func() { ch <- tc.result }()
				}
				return 1, nil
			}
			err := job(ctx, "start", "kubelet.service", fn)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("job succeeded, want an error")
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v does not wrap %v", err, tc.wantIs)
			}
		})
	}
}
