package bootstrap

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strings"

	"go.uber.org/zap"
	"sigs.k8s.io/yaml"

	"github.com/hybridnode/hybridnode/bootstrap/config"
)

// nodePoolDropIn is where the node-pool script of `hybridnode cluster
// setup` (packaging/add-node.sh.in) writes the pool's settings, its
// bootstrap token among them, mode 0600. (cluster.DropInPath names it too;
// the cluster package, client-go and all, is not linked into the node.)
const nodePoolDropIn = config.Dir + "/config.d/50-node-pool.yaml"

// poolTokenRemoved stands where the token line was.
const poolTokenRemoved = "# token: removed by hybridnode once the node had joined (kubelet has its own credentials)"

// dropPoolToken removes the bootstrap token from the node-pool drop-in of
// a joined node: kubelet has its own credentials from then on, and a token
// left on disk lets whoever reads the file (a backup, a snapshot of the
// disk, an image made from it) register a node of their own while the
// token lives. The rest of the settings stay (`config dump`, doctor and
// `join phase` read them), and so does the file's mode (0600, never more);
// the file is rewritten through the file seam, atomically. A join run
// again on the joined node needs no token: the CLI asks for the join
// fields only before the join (see the cmd package's node). A drop-in
// without a token, or none at all, is left as it is.
func (n *Node) dropPoolToken() error {
	data, err := n.FS.ReadFile(nodePoolDropIn)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	out, ok, err := withoutToken(data)
	if err != nil || !ok {
		if err != nil {
			n.Log.Warn("the node-pool settings keep their bootstrap token: remove its line by hand", zap.String("path", nodePoolDropIn), zap.Error(err))
		}
		return nil
	}
	fi, err := n.FS.Lstat(nodePoolDropIn)
	if err != nil {
		return err
	}
	if _, err := n.FS.WriteFile(nodePoolDropIn, out, fi.Mode().Perm()&0o600); err != nil {
		return fmt.Errorf("the node joined, but its bootstrap token stays in %s (remove its line by hand): %w", nodePoolDropIn, err)
	}
	n.Log.Info(n.verb("removed", "would remove")+" the bootstrap token from the node-pool settings: the node has joined", zap.String("path", nodePoolDropIn))
	return nil
}

// withoutToken is the YAML document data without its top-level token
// key: its line (and the lines of its value, indented or blank, up to the
// next top-level line) replaced by poolTokenRemoved. ok is false when
// data has no token key. The result must parse to data's mapping less
// token, else it is an error (which never quotes data: the token).
func withoutToken(data []byte) (out []byte, ok bool, err error) {
	var before map[string]any
	if err := yaml.Unmarshal(data, &before); err != nil {
		return nil, false, errors.New("it does not parse as YAML")
	}
	if _, has := before["token"]; !has {
		return nil, false, nil
	}
	var b bytes.Buffer
	skipping := false
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if skipping && (strings.TrimSpace(line) == "" || line[0] == ' ' || line[0] == '\t') {
			continue
		}
		skipping = false
		if isTokenKey(line) {
			b.WriteString(poolTokenRemoved + "\n")
			skipping = true
			continue
		}
		b.WriteString(line)
	}
	var after map[string]any
	if err := yaml.Unmarshal(b.Bytes(), &after); err != nil {
		return nil, false, errors.New("without its token line it no longer parses as YAML")
	}
	delete(before, "token")
	if !reflect.DeepEqual(before, after) && !(len(before) == 0 && len(after) == 0) {
		return nil, false, errors.New("its token is not on a top-level line of its own")
	}
	return b.Bytes(), true, nil
}

// isTokenKey: line starts the top-level key token (plain or quoted).
func isTokenKey(line string) bool {
	for _, k := range []string{"token", `"token"`, `'token'`} {
		if rest, ok := strings.CutPrefix(line, k); ok {
			if rest = strings.TrimLeft(rest, " \t"); strings.HasPrefix(rest, ":") {
				return true
			}
		}
	}
	return false
}
