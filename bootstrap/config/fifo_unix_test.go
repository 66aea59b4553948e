//go:build unix

package config

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A FIFO as --config neither hangs the command nor is read.
func TestConfigFIFOIsRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skip(err)
	}
	_, err := loadSources(ResolveOptions{File: p, DefaultFile: filepath.Join(t.TempDir(), "config.yaml"), LookupEnv: noEnv})
	if err == nil || !strings.Contains(err.Error(), "want a regular YAML config file") {
		t.Fatalf("got %v", err)
	}
}
