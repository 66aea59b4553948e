package artifact

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
)

// InstallFile and InstallTarball drive Stage, DropUnchanged and CommitAll
// for one artifact, as the install phase does for all of them at once.

const modeMask = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// InstallFile fetches rel, verifies it against sums (a missing entry is an
// error) and installs it at the host path dest with mode. When dest already
// has the expected sha256 and mode nothing is downloaded (changed=false). A
// mismatch wraps hostfs.ErrChecksum and leaves dest untouched.
func InstallFile(ctx context.Context, f Fetcher, sums Sums, fsys hostfs.FS, rel, dest string, mode fs.FileMode) (bool, error) {
	want, err := sums.Lookup(rel)
	if err != nil {
		return false, err
	}
	if have, err := hostfs.SHA256File(fsys, dest); err == nil && have == want {
		if fi, err := fsys.Stat(dest); err == nil && fi.Mode()&modeMask == mode&modeMask {
			return false, nil
		}
	}
	st, err := Stage(ctx, f, sums, fsys, Target{Rel: rel, Dest: dest, Mode: mode}, Limits{})
	if err != nil {
		return false, fmt.Errorf("artifact: install %s: %w", dest, err)
	}
	changed, err := commit(fsys, st)
	return len(changed) > 0, err
}

// InstallTarball fetches the .tar.gz rel, verifies its sha256 against sums
// and installs the selected regular-file members with mode, all or none:
// members maps a member path ("bin/containerd", "./bridge"; a leading "./"
// does not matter) to a destination host path; every listed member must be
// in the archive, else nothing is installed. Files that already have their
// content and mode are not rewritten. It returns the destinations that
// changed, sorted. The archive is downloaded on every call.
func InstallTarball(ctx context.Context, f Fetcher, sums Sums, fsys hostfs.FS, rel string, members map[string]string, mode fs.FileMode) ([]string, error) {
	if len(members) == 0 {
		return nil, fmt.Errorf("artifact: %s: no members selected", where(f, rel))
	}
	st, err := Stage(ctx, f, sums, fsys, Target{Rel: rel, Members: members, Mode: mode}, Limits{})
	if err != nil {
		return nil, err
	}
	return commit(fsys, st)
}

// commit commits the staged files that change something.
func commit(fsys hostfs.FS, st *Staged) ([]string, error) {
	files, err := st.DropUnchanged(fsys, nil)
	if err != nil {
		st.Discard()
		return nil, err
	}
	if err := fsys.CommitAll(files); err != nil {
		return nil, err
	}
	var changed []string
	for _, f := range files {
		changed = append(changed, f.Path())
	}
	return changed, nil
}
