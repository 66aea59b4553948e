package hoststate

import (
	"io/fs"
	"syscall"

	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
)

// Verified is the stat cache of the installed files (VerifiedPath), as
// git's index is of a work tree: for each file, the sha256 hybridnode last
// computed or wrote, with the file's size, mode, inode, mtime and ctime
// then. A file whose stat is still that has that content without being
// hashed again: any write, rename, chmod or replacement of it moves its
// ctime, which user space cannot set back (only a change of the system
// clock could forge it). What it gives up is the detection of a change
// below the file system (a block altered on the disk, with nothing in the
// inode); a mismatch of anything, a missing entry or a missing cache costs
// one full hash, never a wrong answer. installed.json stays the authority:
// an entry counts only with the sha256 the record has for that file.
type Verified struct {
	Files map[string]FileStat `json:"files"`
}

// FileStat is one file's entry.
type FileStat struct {
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	Mode    uint32 `json:"mode"`
	Ino     uint64 `json:"ino"`
	MtimeNs int64  `json:"mtimeNs"`
	CtimeNs int64  `json:"ctimeNs"`
}

// StatOf is fi's entry with sha (false when fi carries no inode data).
func StatOf(fi fs.FileInfo, sha string) (FileStat, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() {
		return FileStat{}, false
	}
	return FileStat{
		SHA256: sha, Size: fi.Size(), Mode: uint32(fi.Mode()), Ino: st.Ino,
		MtimeNs: st.Mtim.Nano(), CtimeNs: st.Ctim.Nano(),
	}, true
}

// Matches: fi is the file this entry describes, unchanged since.
func (s FileStat) Matches(fi fs.FileInfo) bool {
	now, ok := StatOf(fi, s.SHA256)
	return ok && now == s
}

// ReadVerified reads verified.json; nil when there is none.
func ReadVerified(f hostfs.FS) (*Verified, error) { return readJSON[Verified](f, VerifiedPath) }

// Encode is the cache as verified.json holds it.
func (v *Verified) Encode() ([]byte, error) { return encode(v) }
