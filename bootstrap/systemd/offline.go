package systemd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"

	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

// EtcDir is where enablement symlinks live.
const EtcDir = hoststate.EtcUnitDir

type offline struct {
	fs   hostfs.FS
	dirs []string
}

// NewOffline returns a Manager for a root with no live systemd. Enable creates
// the symlinks "systemctl enable" would (WantedBy, RequiredBy, Alias of the
// unit's [Install] section) through fsys, pointing at the unit file found
// first in unitDirs (host paths, e.g. hoststate.Facts.UnitDirs()). Start,
// Restart, Stop and DaemonReload do nothing; ActiveState is "unknown".
func NewOffline(fsys hostfs.FS, unitDirs []string) Manager {
	return &offline{fs: fsys, dirs: slices.Clone(unitDirs)}
}

// links returns link path -> target for unit's [Install] section.
func (o *offline) links(name string) (map[string]string, error) {
	if strings.Contains(name, "/") || name == "" {
		return nil, fmt.Errorf("systemd: invalid unit name %q", name)
	}
	var file string
	var data []byte
	for _, d := range o.dirs {
		p := path.Join(d, name)
		b, err := o.fs.ReadFile(p)
		if err == nil {
			file, data = p, b
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("systemd: unit %s: %w", name, err)
		}
	}
	if file == "" {
		return nil, fmt.Errorf("systemd: unit %s not found in %s: %w", name, strings.Join(o.dirs, ", "), fs.ErrNotExist)
	}
	opts, err := unit.DeserializeOptions(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("systemd: parse %s: %w", file, err)
	}
	links := map[string]string{}
	for _, opt := range opts {
		if opt.Section != "Install" {
			continue
		}
		for _, v := range strings.Fields(opt.Value) {
			switch opt.Name {
			case "WantedBy":
				links[path.Join(EtcDir, v+".wants", name)] = file
			case "RequiredBy":
				links[path.Join(EtcDir, v+".requires", name)] = file
			case "Alias":
				links[path.Join(EtcDir, v)] = file
			}
		}
	}
	if len(links) == 0 {
		return nil, fmt.Errorf("systemd: enable %s: %s has no [Install] WantedBy, RequiredBy or Alias", name, file)
	}
	return links, nil
}

func (o *offline) Enable(_ context.Context, name string) (bool, error) {
	links, err := o.links(name)
	if err != nil {
		return false, err
	}
	changed := false
	for _, l := range slices.Sorted(maps.Keys(links)) {
		c, err := o.fs.Symlink(links[l], l)
		if err != nil {
			return changed, fmt.Errorf("systemd: enable %s: %w", name, err)
		}
		changed = changed || c
	}
	return changed, nil
}

// Disable removes name from every *.wants and *.requires directory under
// EtcDir, and its aliases when the unit file is still there.
func (o *offline) Disable(_ context.Context, name string) (bool, error) {
	if strings.Contains(name, "/") || name == "" {
		return false, fmt.Errorf("systemd: invalid unit name %q", name)
	}
	// link -> required target ("" = any)
	targets := map[string]string{}
	des, err := o.fs.ReadDir(EtcDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("systemd: disable %s: %w", name, err)
	}
	for _, de := range des {
		if strings.HasSuffix(de.Name(), ".wants") || strings.HasSuffix(de.Name(), ".requires") {
			targets[path.Join(EtcDir, de.Name(), name)] = ""
		}
	}
	if links, err := o.links(name); err == nil {
		for l, t := range links {
			if _, ok := targets[l]; !ok {
				targets[l] = t
			}
		}
	}
	changed := false
	for _, l := range slices.Sorted(maps.Keys(targets)) {
		if fi, err := o.fs.Lstat(l); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		if want := targets[l]; want != "" {
			if got, err := hostfs.Readlink(o.fs, l); err != nil || got != want {
				continue
			}
		}
		c, err := o.fs.Remove(l)
		if err != nil {
			return changed, fmt.Errorf("systemd: disable %s: %w", name, err)
		}
		changed = changed || c
	}
	return changed, nil
}

func (o *offline) DaemonReload(context.Context) error                { return nil }
func (o *offline) Start(context.Context, string) error               { return nil }
func (o *offline) Restart(context.Context, string) error             { return nil }
func (o *offline) Stop(context.Context, string) error                { return nil }
func (o *offline) NRestarts(context.Context, string) (uint32, error) { return 0, nil }

// Environment: nothing is loaded where nothing runs.
func (o *offline) Environment(context.Context, string) ([]string, error) { return nil, nil }

// EnvironmentFiles: nothing is loaded where nothing runs.
func (o *offline) EnvironmentFiles(context.Context, string) ([]string, error) { return nil, nil }

func (o *offline) ActiveState(context.Context, string) (string, error) {
	return "unknown", nil
}
func (o *offline) Live() bool { return false }
func (o *offline) Close()     {}
