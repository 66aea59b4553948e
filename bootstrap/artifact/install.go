package artifact

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
)

// SumsFile is the checksum list at the base of every source.
const SumsFile = "SHA256SUMS"

// ErrNotListed is wrapped when a file has no SHA256SUMS entry.
var ErrNotListed = errors.New("not listed in " + SumsFile)

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
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			continue
		}
		if len(line) < 67 || line[64] != ' ' || (line[65] != ' ' && line[65] != '*') {
			return nil, fmt.Errorf("artifact: %s line %d: want \"<64 hex>  <path>\", got %q", SumsFile, n, line)
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
		return nil, fmt.Errorf("artifact: read %s: %w", SumsFile, err)
	}
	if len(sums) == 0 {
		return nil, fmt.Errorf("artifact: %s has no entries", SumsFile)
	}
	return sums, nil
}

// LoadSums fetches and parses SHA256SUMS from f.
func LoadSums(ctx context.Context, f Fetcher) (Sums, error) {
	rc, err := f.Open(ctx, SumsFile)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	sums, err := ParseSums(io.LimitReader(rc, 16<<20))
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

const modeMask = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// InstallFile fetches rel, verifies it against sums (a missing entry is an
// error) and writes it to the host path dest with mode through
// fsys.WriteStream. When dest already has the expected sha256 and mode
// nothing is downloaded (changed=false). A mismatch wraps hostfs.ErrChecksum
// and leaves dest untouched.
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
	rc, err := f.Open(ctx, rel)
	if err != nil {
		return false, fmt.Errorf("artifact: install %s: %w", dest, err)
	}
	defer rc.Close()
	_, changed, err := fsys.WriteStream(dest, rc, mode, want)
	if err != nil {
		return false, fmt.Errorf("artifact: install %s from %s: %w", dest, where(f, rel), err)
	}
	return changed, nil
}

// InstallTarball fetches the .tar.gz rel into a private temp file, verifies
// its sha256 against sums (nothing is extracted from an unverified archive),
// then writes the selected regular-file members with mode through
// fsys.WriteStream. members maps a member path ("bin/containerd", "./bridge";
// a leading "./" does not matter) to a destination host path; every listed
// member must be in the archive, else nothing is installed. It returns the
// destinations that changed, sorted. The archive is downloaded on every call.
func InstallTarball(ctx context.Context, f Fetcher, sums Sums, fsys hostfs.FS, rel string, members map[string]string, mode fs.FileMode) ([]string, error) {
	src := where(f, rel)
	want, err := sums.Lookup(rel)
	if err != nil {
		return nil, err
	}
	if len(members) == 0 {
		return nil, fmt.Errorf("artifact: %s: no members selected", src)
	}
	dests := map[string]string{}
	for m, d := range members {
		c := memberName(m)
		if _, dup := dests[c]; dup {
			return nil, fmt.Errorf("artifact: %s: member %s selected twice", src, c)
		}
		dests[c] = d
	}

	tmp, err := os.CreateTemp("", "hybridnode-artifact-*")
	if err != nil {
		return nil, fmt.Errorf("artifact: %s: %w", src, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := download(ctx, f, rel, tmp, want); err != nil {
		return nil, err
	}

	// Pass 1: every selected member is there, once, as a regular file.
	found := map[string]bool{}
	err = eachMember(ctx, tmp, func(name string, h *tar.Header, _ io.Reader) error {
		if _, ok := dests[name]; !ok {
			return nil
		}
		if h.Typeflag != tar.TypeReg {
			return fmt.Errorf("member %s is not a regular file", h.Name)
		}
		if found[name] {
			return fmt.Errorf("member %s appears twice", h.Name)
		}
		found[name] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("artifact: %s: %w", src, err)
	}
	var missing []string
	for m := range dests {
		if !found[m] {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("artifact: %s: members not in the archive: %s: %w", src, strings.Join(missing, ", "), fs.ErrNotExist)
	}

	// Pass 2: write them.
	var changed []string
	err = eachMember(ctx, tmp, func(name string, _ *tar.Header, r io.Reader) error {
		dest, ok := dests[name]
		if !ok {
			return nil
		}
		_, c, err := fsys.WriteStream(dest, r, mode, "")
		if err != nil {
			return fmt.Errorf("install member %s: %w", name, err)
		}
		if c {
			changed = append(changed, dest)
		}
		return nil
	})
	if err != nil {
		return changed, fmt.Errorf("artifact: %s: %w", src, err)
	}
	slices.Sort(changed)
	return changed, nil
}

// download copies rel into w and checks its sha256.
func download(ctx context.Context, f Fetcher, rel string, w io.Writer, want string) error {
	rc, err := f.Open(ctx, rel)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(w, h), ctxReader{ctx, rc}); err != nil {
		return fmt.Errorf("artifact: download %s: %w", where(f, rel), err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("artifact: %s: %w: want sha256 %s, got %s", where(f, rel), hostfs.ErrChecksum, want, got)
	}
	return nil
}

func memberName(n string) string { return strings.TrimPrefix(path.Clean("/"+n), "/") }

// eachMember calls fn for every entry of the gzipped tar in file.
func eachMember(ctx context.Context, file *os.File, fn func(name string, h *tar.Header, r io.Reader) error) error {
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	gz, err := gzip.NewReader(ctxReader{ctx, file})
	if err != nil {
		return fmt.Errorf("not a gzip archive: %w", err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		if err := fn(memberName(h.Name), h, tr); err != nil {
			return err
		}
	}
}
