package bootstrap

import (
	"bytes"
	"regexp"
	"strings"
	"sync"

	"go.uber.org/zap"
)

// ansi matches terminal colour codes (kubeadm's system verification prints
// them even when not on a terminal); they garble /var/log/acs/init.log.
var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// lineWriter logs each line a command prints, with secrets scrubbed.
type lineWriter struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	log     *zap.Logger
	secrets []string
}

func (n *Node) lineLogger(source string) *lineWriter {
	w := &lineWriter{log: n.Log.With(zap.String("output", source))}
	if t := n.token().Reveal(); t != "" {
		w.secrets = append(w.secrets, t)
	}
	return w
}

// addSecret scrubs one more secret (a token exchanged during the join).
func (w *lineWriter) addSecret(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s != "" {
		w.secrets = append(w.secrets, s)
	}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line) // incomplete line: keep for later
			return len(p), nil
		}
		w.emit(line)
	}
}

func (w *lineWriter) emit(line string) {
	line = ansi.ReplaceAllString(strings.TrimRight(line, "\r\n"), "")
	if strings.TrimSpace(line) == "" {
		return
	}
	for _, s := range w.secrets {
		line = strings.ReplaceAll(line, s, redactedToken)
	}
	w.log.Info(line)
}

// Close flushes a last line without a newline.
func (w *lineWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() > 0 {
		w.emit(w.buf.String())
		w.buf.Reset()
	}
	return nil
}
