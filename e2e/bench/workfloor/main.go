// Command workfloor measures the least CPU work any verified install of the
// artifacts must do, with no network and no writes: each file, read from
// the page cache, through sha256 and, for a .tar.gz or .tgz, through gzip
// (klauspost/compress, as hybridnode) and tar to the end, every file at
// once on all cores. It prints the wall seconds of the best of -runs, and
// the CPU seconds of each part, for `make bench` (e2e/bench/install.sh).
//
//	workfloor -runs 5 FILE...
package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
)

func work(path string) (hash, inflate time.Duration, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	var data bytes.Buffer
	if _, err := io.Copy(&data, f); err != nil {
		return 0, 0, err
	}
	t := time.Now()
	sha256.Sum256(data.Bytes())
	hash = time.Since(t)
	if !strings.HasSuffix(path, ".tar.gz") && !strings.HasSuffix(path, ".tgz") {
		return hash, 0, nil
	}
	t = time.Now()
	zr, err := gzip.NewReader(&data)
	if err != nil {
		return hash, 0, err
	}
	tr := tar.NewReader(zr)
	buf := make([]byte, 256<<10)
	for {
		if _, err = tr.Next(); err == io.EOF {
			break
		} else if err != nil {
			return hash, 0, err
		}
		if _, err := io.CopyBuffer(io.Discard, tr, buf); err != nil {
			return hash, 0, err
		}
	}
	return hash, time.Since(t), nil
}

func main() {
	runs := flag.Int("runs", 5, "runs; the best is printed")
	flag.Parse()
	best := time.Duration(1 << 62)
	var hashCPU, inflateCPU time.Duration
	for range *runs {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var h, z time.Duration
		t := time.Now()
		for _, p := range flag.Args() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dh, dz, err := work(p)
				if err != nil {
					log.Fatalf("workfloor: %s: %v", p, err)
				}
				mu.Lock()
				h, z = h+dh, z+dz
				mu.Unlock()
			}()
		}
		wg.Wait()
		if d := time.Since(t); d < best {
			best, hashCPU, inflateCPU = d, h, z
		}
	}
	fmt.Printf("%.3f %.3f %.3f\n", best.Seconds(), hashCPU.Seconds(), inflateCPU.Seconds())
}
