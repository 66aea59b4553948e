// Command ci-image writes a single-layer OCI image layout (image-spec v1.1)
// from a directory tree, without a container engine. The output is
// reproducible: entries are sorted, owned by 0:0 and stamped with a fixed
// time, so the same input always gives the same digests.
//
//	ci-image -rootfs DIR -out OCIDIR -name registry.k8s.io/pause:3.10.2 \
//	    -entrypoint '["/pause"]' -user 65535:65535
//
// The index carries org.opencontainers.image.ref.name=<tag> (what skopeo's
// oci:OCIDIR:<tag> looks up) and io.containerd.image.name=<full name> (what
// `ctr images import` names the image). OCIDIR is replaced atomically.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

const (
	mediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type imageConfig struct {
	Created      string     `json:"created"`
	Architecture string     `json:"architecture"`
	OS           string     `json:"os"`
	Config       execConfig `json:"config"`
	RootFS       rootFS     `json:"rootfs"`
	History      []history  `json:"history"`
}

type execConfig struct {
	User       string            `json:"User,omitempty"`
	Env        []string          `json:"Env,omitempty"`
	Entrypoint []string          `json:"Entrypoint,omitempty"`
	Cmd        []string          `json:"Cmd,omitempty"`
	WorkingDir string            `json:"WorkingDir,omitempty"`
	Labels     map[string]string `json:"Labels,omitempty"`
}

type rootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

type history struct {
	Created   string `json:"created"`
	CreatedBy string `json:"created_by"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []descriptor `json:"manifests"`
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	var (
		rootfs     = flag.String("rootfs", "", "directory whose contents become the image's only layer")
		out        = flag.String("out", "", "OCI image layout directory to write (replaced)")
		name       = flag.String("name", "", "full image reference, e.g. registry.k8s.io/pause:3.10.2")
		entrypoint = flag.String("entrypoint", "", `JSON array, e.g. '["/pause"]'`)
		cmd        = flag.String("cmd", "", `JSON array, e.g. '["sh"]'`)
		user       = flag.String("user", "", "config User, e.g. 65535:65535")
		workdir    = flag.String("workdir", "", "config WorkingDir")
		created    = flag.String("created", "1970-01-01T00:00:00Z", "RFC 3339 time for the config and every layer entry")
		arch       = flag.String("arch", "amd64", "image architecture")
		env        stringList
		labels     stringList
	)
	flag.Var(&env, "env", "KEY=VALUE (repeatable); default PATH is always set")
	flag.Var(&labels, "label", "KEY=VALUE (repeatable)")
	flag.Parse()
	if *rootfs == "" || *out == "" || *name == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*rootfs, *out, *name, *entrypoint, *cmd, *user, *workdir, *created, *arch, env, labels); err != nil {
		fmt.Fprintln(os.Stderr, "ci-image:", err)
		os.Exit(1)
	}
}

func run(rootfs, out, name, entrypoint, cmd, user, workdir, created, arch string, env, labels []string) error {
	mtime, err := time.Parse(time.RFC3339, created)
	if err != nil {
		return fmt.Errorf("-created: %w", err)
	}
	tag := "latest"
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		tag = name[i+1:]
	} else {
		name += ":" + tag
	}

	cfg := imageConfig{
		Created:      created,
		Architecture: arch,
		OS:           "linux",
		Config: execConfig{
			User:       user,
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			WorkingDir: workdir,
		},
		RootFS:  rootFS{Type: "layers"},
		History: []history{{Created: created, CreatedBy: "hybridnode e2e/images/ci-image"}},
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			cfg.Config.Env[0] = kv
		} else {
			cfg.Config.Env = append(cfg.Config.Env, kv)
		}
	}
	if len(labels) > 0 {
		cfg.Config.Labels = map[string]string{}
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			cfg.Config.Labels[k] = v
		}
	}
	for _, a := range []struct {
		flag string
		dst  *[]string
	}{{entrypoint, &cfg.Config.Entrypoint}, {cmd, &cfg.Config.Cmd}} {
		if a.flag != "" {
			if err := json.Unmarshal([]byte(a.flag), a.dst); err != nil {
				return fmt.Errorf("%q is not a JSON string array: %w", a.flag, err)
			}
		}
	}

	tmp := out + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(tmp, "blobs", "sha256"), 0o755); err != nil {
		return err
	}

	// Layer: uncompressed digest is the diff_id, compressed digest the blob.
	var raw bytes.Buffer
	if err := writeTar(&raw, rootfs, mtime); err != nil {
		return err
	}
	cfg.RootFS.DiffIDs = []string{digest(raw.Bytes())}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	layer, err := writeBlob(tmp, mediaTypeLayer, gz.Bytes())
	if err != nil {
		return err
	}
	cfgJSON, _ := json.Marshal(cfg)
	cfgDesc, err := writeBlob(tmp, mediaTypeConfig, cfgJSON)
	if err != nil {
		return err
	}
	manJSON, _ := json.Marshal(manifest{SchemaVersion: 2, MediaType: mediaTypeManifest, Config: cfgDesc, Layers: []descriptor{layer}})
	manDesc, err := writeBlob(tmp, mediaTypeManifest, manJSON)
	if err != nil {
		return err
	}
	manDesc.Platform = &platform{Architecture: arch, OS: "linux"}
	manDesc.Annotations = map[string]string{
		"org.opencontainers.image.ref.name": tag,
		"io.containerd.image.name":          name,
	}
	idxJSON, _ := json.Marshal(index{SchemaVersion: 2, MediaType: mediaTypeIndex, Manifests: []descriptor{manDesc}})
	if err := os.WriteFile(filepath.Join(tmp, "index.json"), idxJSON, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	fmt.Printf("%s %s\n", name, manDesc.Digest)
	return nil
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func writeBlob(dir, mediaType string, b []byte) (descriptor, error) {
	d := digest(b)
	p := filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(d, "sha256:"))
	return descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}, os.WriteFile(p, b, 0o644)
}

// writeTar writes the tree under root as a tar stream, sorted by path, owned
// by root, every entry stamped with mtime. Hard links are stored as copies.
func writeTar(w io.Writer, root string, mtime time.Time) error {
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	tw := tar.NewWriter(w)
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		hdr.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = mtime, time.Time{}, time.Time{}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
	}
	return tw.Close()
}
