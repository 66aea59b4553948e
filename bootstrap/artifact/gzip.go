package artifact

import (
	"io"

	"github.com/klauspost/compress/gzip"
)

// newGzipReader: klauspost/compress's gzip inflates the containerd and CNI
// tarballs 15-20% faster than compress/gzip, fed as Stage feeds it
// (BenchmarkGunzip), for 86 KB of binary.
func newGzipReader(r io.Reader) (io.ReadCloser, error) { return gzip.NewReader(r) }
