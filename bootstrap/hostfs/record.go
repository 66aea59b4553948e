package hostfs

import (
	"fmt"
	"io/fs"
	"strings"
	"sync"
)

// Change.Op values. The file ops are recorded by DryRun; the others by the
// dry-run seams of the systemd, command and artifact packages (pull by the
// images phase of package bootstrap).
const (
	OpWrite    = "write"
	OpRemove   = "remove"
	OpSymlink  = "symlink"
	OpMkdir    = "mkdir"
	OpCommand  = "command"
	OpSystemd  = "systemd"
	OpDownload = "download"
	OpPull     = "pull" // an image pulled into containerd
)

// Change is one action a dry run would have performed.
type Change struct {
	Op     string      // one of the Op* constants
	Path   string      // host path, unit name, command name or URL
	Mode   fs.FileMode // for write and mkdir
	Detail string      // symlink target, systemd action, quoted command line, ...
	// Diff is a unified diff of old vs new text content, or a one-line summary
	// ("binary, N bytes, sha256 X", "content hidden (mode 0600)", "mode 0644 -> 0600").
	Diff string
}

// String renders the change on one line, followed by its diff if any.
func (c Change) String() string {
	var b strings.Builder
	b.WriteString(c.Op)
	if c.Path != "" {
		b.WriteString(" " + c.Path)
	}
	if c.Op == OpWrite || c.Op == OpMkdir {
		fmt.Fprintf(&b, " (%#o)", c.Mode.Perm())
	}
	if c.Detail != "" {
		b.WriteString(": " + c.Detail)
	}
	if c.Diff != "" {
		if strings.Contains(c.Diff, "\n") {
			b.WriteString("\n" + strings.TrimRight(c.Diff, "\n"))
		} else {
			b.WriteString(" [" + c.Diff + "]")
		}
	}
	return b.String()
}

// Recorder collects Changes; it is safe for concurrent use and a nil
// *Recorder discards everything.
type Recorder struct {
	mu      sync.Mutex
	changes []Change
}

// Add appends c.
func (r *Recorder) Add(c Change) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, c)
}

// Changes returns a copy of the recorded changes, in order.
func (r *Recorder) Changes() []Change {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Change(nil), r.changes...)
}
