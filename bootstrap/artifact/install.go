package artifact

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
)

// SumsFile is the checksum list at the base of every source.
const SumsFile = "SHA256SUMS"

// MaxSumsSize bounds SHA256SUMS: a larger file is an error, not truncated.
const MaxSumsSize = 16 << 20

// maxSumsLine bounds one line of SHA256SUMS (64 hex, 2, a path).
const maxSumsLine = 64 << 10

// ErrNotListed is wrapped when a file has no SHA256SUMS entry.
var ErrNotListed = errors.New("not listed in " + SumsFile)

// ErrTooLarge is wrapped when an artifact breaks one of its Limits.
var ErrTooLarge = errors.New("over a bound")

// Sums maps a path relative to the base to its lowercase hex sha256.
type Sums map[string]string

// Lookup returns the sha256 of rel, or an error wrapping ErrNotListed.
func (s Sums) Lookup(rel string) (string, error) {
	if sum, ok := s[rel]; ok {
		return sum, nil
	}
	return "", fmt.Errorf("artifact: %s: %w", rel, ErrNotListed)
}

// ParseSums parses sha256sum output ("<64 hex>  <path>" or "<64 hex> *<path>"
// per line). It is strict: a malformed line, an invalid path or a path listed
// twice with different sums is an error naming the line number. Empty lines
// are skipped; a leading "./" is dropped from paths.
func ParseSums(r io.Reader) (Sums, error) {
	sums := Sums{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxSumsLine)
	n := 1
	for ; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			continue
		}
		if len(line) < 67 || line[64] != ' ' || (line[65] != ' ' && line[65] != '*') {
			return nil, fmt.Errorf("artifact: %s line %d: want \"<64 hex>  <path>\", got %q", SumsFile, n, clip(line))
		}
		sum := strings.ToLower(line[:64])
		if _, err := hex.DecodeString(sum); err != nil {
			return nil, fmt.Errorf("artifact: %s line %d: invalid sha256 %q", SumsFile, n, line[:64])
		}
		p := strings.TrimPrefix(line[66:], "./")
		if err := validRel(p); err != nil {
			return nil, fmt.Errorf("artifact: %s line %d: %w", SumsFile, n, err)
		}
		if old, ok := sums[p]; ok && old != sum {
			return nil, fmt.Errorf("artifact: %s line %d: %s listed again with another sum", SumsFile, n, p)
		}
		sums[p] = sum
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("artifact: %s line %d: longer than %d bytes", SumsFile, n, maxSumsLine)
		}
		return nil, fmt.Errorf("artifact: %s line %d: %w", SumsFile, n, err)
	}
	if len(sums) == 0 {
		return nil, fmt.Errorf("artifact: %s has no entries", SumsFile)
	}
	return sums, nil
}

// clip shortens a line quoted in an error.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// LoadSums fetches and parses SHA256SUMS from f; one over MaxSumsSize is an error.
func LoadSums(ctx context.Context, f Fetcher) (Sums, error) {
	rc, err := f.Open(ctx, SumsFile)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, MaxSumsSize+1))
	if err != nil {
		return nil, fmt.Errorf("artifact: read %s: %w", where(f, SumsFile), err)
	}
	if len(data) > MaxSumsSize {
		return nil, fmt.Errorf("artifact: %s: larger than the %s bound for %s: %w", where(f, SumsFile), size(MaxSumsSize), SumsFile, ErrTooLarge)
	}
	sums, err := ParseSums(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where(f, SumsFile), err)
	}
	return sums, nil
}

// where names rel in f for error messages.
func where(f Fetcher, rel string) string {
	if s, ok := f.(fmt.Stringer); ok {
		return strings.TrimSuffix(s.String(), "/") + "/" + rel
	}
	return rel
}

// Limits bound what one artifact may make hybridnode read and write. A
// checksum proves an artifact is the one listed, not that it is sane.
type Limits struct {
	// Download bounds the artifact as downloaded (compressed, for a tarball).
	Download int64
	// File bounds a plain file, or one archive member, as written.
	File int64
	// Total bounds all members of one archive (read or skipped), uncompressed.
	Total int64
	// Members bounds the entries of one archive.
	Members int
}

// DefaultLimits: today's largest artifact (kubelet) is about 100 MB and the
// largest archive (containerd) about 80 MB unpacked, in a handful of entries.
var DefaultLimits = Limits{Download: 1 << 30, File: 512 << 20, Total: 2 << 30, Members: 4096}

func (l Limits) orDefault() Limits {
	d := DefaultLimits
	if l.Download > 0 {
		d.Download = l.Download
	}
	if l.File > 0 {
		d.File = l.File
	}
	if l.Total > 0 {
		d.Total = l.Total
	}
	if l.Members > 0 {
		d.Members = l.Members
	}
	return d
}

// size renders a bound.
func size(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Target is an artifact and where it goes.
type Target struct {
	// Rel is its path relative to the source's base; it must be in SHA256SUMS.
	Rel string
	// Dest is the host path of a plain file.
	Dest string
	// Members, for a .tar.gz, maps the members to install ("bin/containerd",
	// "./bridge"; a leading "./" does not matter) to host paths; every one
	// must be in the archive, once, as a regular file.
	Members map[string]string
	// Mode of every file written.
	Mode fs.FileMode
}

// Staged is an artifact streamed into staged files and verified; nothing
// is at its final path until the files are committed (hostfs CommitAll).
type Staged struct {
	Rel    string
	SHA256 string              // of the artifact as downloaded, as SHA256SUMS lists it
	Files  []hostfs.StagedFile // sorted by host path
}

// Discard removes every staged file.
func (s *Staged) Discard() {
	if s == nil {
		return
	}
	for _, f := range s.Files {
		f.Discard()
	}
}

// Sums maps each staged host path to its sha256 (computed while writing).
func (s *Staged) Sums() map[string]string {
	out := make(map[string]string, len(s.Files))
	for _, f := range s.Files {
		out[f.Path()] = f.SHA256()
	}
	return out
}

// DropUnchanged discards the staged files whose path already holds the same
// content and mode (known maps host paths to sha256s already computed, may
// be nil) and returns the others, those a commit would change.
func (s *Staged) DropUnchanged(fsys hostfs.FS, known map[string]string) ([]hostfs.StagedFile, error) {
	var out []hostfs.StagedFile
	for _, f := range s.Files {
		same, err := hostfs.Unchanged(fsys, f, known[f.Path()])
		if err != nil {
			return nil, err
		}
		if same {
			f.Discard()
			continue
		}
		out = append(out, f)
	}
	return out, nil
}

// copyBuf is the buffer of one artifact stream.
const copyBuf = 256 << 10

// Stage streams t.Rel from f in one pass, through sha256 and, for a
// tarball, gzip and tar, into files staged through fsys beside their
// destinations (no other copy is made). It returns once the artifact's
// sha256 matched sums and every selected member was found; on any error
// everything it staged is discarded. Errors name the artifact's URL.
func Stage(ctx context.Context, f Fetcher, sums Sums, fsys hostfs.FS, t Target, lim Limits) (*Staged, error) {
	want, err := sums.Lookup(t.Rel)
	if err != nil {
		return nil, err
	}
	lim = lim.orDefault()
	src := where(f, t.Rel)
	var dests map[string]string
	if len(t.Members) > 0 {
		dests = map[string]string{}
		for m, d := range t.Members {
			c := memberName(m)
			if _, dup := dests[c]; dup {
				return nil, fmt.Errorf("artifact: %s: member %s selected twice", src, c)
			}
			dests[c] = d
		}
	} else if t.Dest == "" {
		return nil, fmt.Errorf("artifact: %s: no destination", src)
	}
	rc, err := f.Open(ctx, t.Rel)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	body := &limitReader{r: ctxReader{ctx, rc}, left: lim.Download, err: func() error {
		return fmt.Errorf("artifact: %s: larger than the %s bound per download: %w", src, size(lim.Download), ErrTooLarge)
	}}
	st := &Staged{Rel: t.Rel, SHA256: want}
	var got string
	if dests == nil {
		got, err = stageFile(st, body, fsys, t, lim, src)
	} else {
		got, err = stageTarball(st, body, fsys, dests, t.Mode, lim, src)
	}
	if err == nil && got != want {
		err = fmt.Errorf("artifact: %s: %w: want sha256 %s, got %s", src, hostfs.ErrChecksum, want, got)
	}
	if err != nil {
		st.Discard()
		return nil, err
	}
	slices.SortFunc(st.Files, func(a, b hostfs.StagedFile) int { return strings.Compare(a.Path(), b.Path()) })
	return st, nil
}

// stageFile streams a plain artifact into one staged file; its sha256 is
// the artifact's (hashed once, as written).
func stageFile(st *Staged, body io.Reader, fsys hostfs.FS, t Target, lim Limits, src string) (string, error) {
	sf, err := fsys.Stage(t.Dest, t.Mode)
	if err != nil {
		return "", fmt.Errorf("artifact: %s: %w", src, err)
	}
	st.Files = append(st.Files, sf)
	lr := &limitReader{r: body, left: lim.File, err: func() error {
		return fmt.Errorf("artifact: %s: larger than the %s bound per file: %w", src, size(lim.File), ErrTooLarge)
	}}
	if _, err := io.CopyBuffer(sf, lr, make([]byte, copyBuf)); err != nil {
		return "", wrapSrc(src, err)
	}
	if got := sf.SHA256(); got != st.SHA256 {
		return got, nil // not worth an fsync
	}
	if err := sf.Close(); err != nil {
		return "", fmt.Errorf("artifact: %s: %w", src, err)
	}
	return sf.SHA256(), nil
}

// wrapSrc names the artifact unless err already does.
func wrapSrc(src string, err error) error {
	if strings.Contains(err.Error(), src) {
		return err
	}
	return fmt.Errorf("artifact: %s: %w", src, err)
}

// stageTarball streams a .tar.gz: the compressed bytes are hashed on the
// way in, the selected members are written to staged files as they come
// (hashed as written), and the rest is read and dropped. It returns the
// artifact's sha256, known only at its end. When the archive is malformed
// (or breaks a bound) the rest of the download is still hashed: for an
// artifact that is not the listed one the checksum is the error to report.
func stageTarball(st *Staged, body io.Reader, fsys hostfs.FS, dests map[string]string, mode fs.FileMode, lim Limits, src string) (string, error) {
	h := sha256.New()
	in := &feeder{src: io.TeeReader(body, h)}
	buf := make([]byte, copyBuf)
	bad := func(err error) (string, error) {
		if derr := in.drain(buf); derr == nil {
			if got := hex.EncodeToString(h.Sum(nil)); got != st.SHA256 {
				return got, nil
			}
		}
		return "", err
	}
	in.fill()
	gzr, err := newGzipReader(&in.buf)
	if err == nil && in.err != nil {
		err = in.err
	}
	if err != nil {
		return bad(wrapSrc(src, fmt.Errorf("not a gzip archive: %w", err)))
	}
	defer gzr.Close()
	// Entry headers and padding take at most 1 KiB per entry beyond the
	// content sizes that Total bounds.
	unpacked := lim.Total + int64(lim.Members+2)<<10
	gz := &limitReader{r: &fedReader{r: gzr, in: in, src: src}, left: unpacked, err: func() error {
		return fmt.Errorf("artifact: %s: unpacks to more than the %s bound per archive: %w", src, size(lim.Total), ErrTooLarge)
	}}
	tr := tar.NewReader(gz)
	found := map[string]bool{}
	var total int64
	for entries := 1; ; entries++ {
		hd, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				return bad(err)
			}
			return bad(wrapSrc(src, fmt.Errorf("read archive: %w", err)))
		}
		if entries > lim.Members {
			return bad(fmt.Errorf("artifact: %s: more than the %d entries bound per archive: %w", src, lim.Members, ErrTooLarge))
		}
		name := memberName(hd.Name)
		dest, selected := dests[name]
		if selected && hd.Size > lim.File {
			return bad(fmt.Errorf("artifact: %s: member %s is %d bytes, over the %s bound per file: %w", src, hd.Name, hd.Size, size(lim.File), ErrTooLarge))
		}
		if total += max(hd.Size, 0); total > lim.Total {
			return bad(fmt.Errorf("artifact: %s: entries up to %s unpack to more than the %s bound per archive: %w", src, hd.Name, size(lim.Total), ErrTooLarge))
		}
		if !selected {
			continue // Next skips its content
		}
		switch {
		case hd.Typeflag != tar.TypeReg:
			return bad(fmt.Errorf("artifact: %s: member %s is not a regular file", src, hd.Name))
		case found[name]:
			return bad(fmt.Errorf("artifact: %s: member %s appears twice", src, hd.Name))
		}
		found[name] = true
		sf, err := fsys.Stage(dest, mode)
		if err != nil {
			return "", fmt.Errorf("artifact: %s: member %s: %w", src, hd.Name, err)
		}
		st.Files = append(st.Files, sf)
		w := &trackWriter{w: sf}
		if _, err := io.CopyBuffer(w, tr, buf); err != nil {
			if w.err != nil { // a full disk, say: nothing to do with the artifact
				return "", wrapSrc(src, fmt.Errorf("member %s: %w", hd.Name, err))
			}
			return bad(wrapSrc(src, fmt.Errorf("member %s: %w", hd.Name, err)))
		}
		if err := sf.Close(); err != nil {
			return "", fmt.Errorf("artifact: %s: member %s: %w", src, hd.Name, err)
		}
	}
	// The checksum covers every byte: what follows the archive's end
	// (padding, a trailer) is read too, within the bounds.
	if _, err := io.CopyBuffer(io.Discard, gz, buf); err != nil {
		return bad(wrapSrc(src, fmt.Errorf("read archive: %w", err)))
	}
	if err := in.drain(buf); err != nil {
		return "", wrapSrc(src, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if got != st.SHA256 {
		return got, nil // the checksum is the problem, not what is missing
	}
	var missing []string
	for m := range dests {
		if !found[m] {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return "", fmt.Errorf("artifact: %s: members not in the archive: %s: %w", src, strings.Join(missing, ", "), fs.ErrNotExist)
	}
	return got, nil
}

// trackWriter remembers a write error, to tell it from a read error.
type trackWriter struct {
	w   io.Writer
	err error
}

func (t *trackWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if err != nil {
		t.err = err
	}
	return n, err
}

// feeder holds the compressed stream in a bytes.Buffer for the inflater:
// klauspost/compress reads a *bytes.Buffer a byte at a time without a
// function call (a *bufio.Reader costs one per byte, 15% of the install's
// CPU). The buffer is topped up before every read of the inflater (see
// fedReader), so that it never runs dry in the middle of one.
type feeder struct {
	buf bytes.Buffer
	src io.Reader
	eof bool
	err error
}

// lowWater is what the buffer holds (unless the stream ends first) when
// the inflater is asked for at most maxInflate bytes. A deflate stream
// takes at most about 2 bytes of input per byte of output, headers aside;
// lowWater leaves a wide margin. Only a contrived stream (megabytes of
// empty blocks) needs more, and fails with a clear error.
const (
	lowWater   = 1 << 20
	maxInflate = 32 << 10
)

func (f *feeder) fill() {
	for !f.eof && f.err == nil && f.buf.Len() < lowWater {
		f.buf.Grow(copyBuf)
		n, err := f.src.Read(f.buf.AvailableBuffer()[:copyBuf])
		f.buf.Write(f.buf.AvailableBuffer()[:n])
		switch {
		case err == io.EOF:
			f.eof = true
		case err != nil:
			f.err = err
		}
	}
}

// drain reads the rest of the stream (for its checksum).
func (f *feeder) drain(buf []byte) error {
	if f.err != nil {
		return f.err
	}
	f.buf.Reset()
	if f.eof {
		return nil
	}
	_, err := io.CopyBuffer(io.Discard, f.src, buf)
	return err
}

// fedReader tops the feeder up before each read of the inflater.
type fedReader struct {
	r   io.Reader
	in  *feeder
	src string
}

func (r *fedReader) Read(p []byte) (int, error) {
	r.in.fill()
	if r.in.err != nil && r.in.buf.Len() == 0 {
		return 0, r.in.err
	}
	n, err := r.r.Read(p[:min(len(p), maxInflate)])
	if errors.Is(err, io.ErrUnexpectedEOF) && !r.in.eof {
		if r.in.err != nil {
			return n, r.in.err // the network's error, not the archive's
		}
		err = fmt.Errorf("artifact: %s: more than %s of compressed data for %s of output: not supported", r.src, size(lowWater), size(maxInflate))
	}
	return n, err
}

// limitReader fails with err() once more than left bytes are read.
type limitReader struct {
	r    io.Reader
	left int64
	err  func() error
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, l.err()
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, l.err()
	}
	return n, err
}

func memberName(n string) string { return strings.TrimPrefix(path.Clean("/"+n), "/") }
