package main

import (
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap"
	"github.com/hybridnode/hybridnode/bootstrap/doctor/apitest"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

// TestJoinOnAJoinedNodeNeedsNoToken: once joined, the node's token is gone
// (from the node-pool settings too), and `join` run again (ACK's script on
// a reboot) does nothing and succeeds without one; before the join, a
// missing token is a configuration error (exit 2).
func TestJoinOnAJoinedNodeNeedsNoToken(t *testing.T) {
	root, env := installedRoot(t)
	env["ALIBABA_CLOUD_NODE_NAME"] = "cn-hangzhou.10.10.24.7"
	env["HYBRIDNODE_API_SERVER_ENDPOINT"] = "10.0.0.10:6443"
	out, code := run(t, env, "join", "--root", root)
	if code != bootstrap.ExitInvalid || !strings.Contains(out, "token") {
		t.Fatalf("not joined, no token: exit %d:\n%s", code, out)
	}
	api := apitest.New(t, apitest.Options{})
	writeFile(t, root, kubeletCert, string(api.NodeCertificate(t, "cn-hangzhou.10.10.24.7")))
	writeFile(t, root, hoststate.KubeletConf, string(api.KubeletConf(kubeletCert)))
	for _, args := range [][]string{{"join", "--root", root}, {"config", "check", "--root", root}} {
		if out, code := run(t, env, args...); code != 0 {
			t.Errorf("%s on a joined node without a token: exit %d:\n%s", args[0], code, out)
		}
	}
}
