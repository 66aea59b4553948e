package report

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
)

func TestSubnetsResult(t *testing.T) {
	vpc := netip.MustParsePrefix("172.16.0.0/12")
	for _, c := range []struct {
		name, yaml, status string
		want               []string
	}{
		{"apart", "networking:\n  podSubnet: 10.244.0.0/16\n  serviceSubnet: 10.96.0.0/12\n", Pass, []string{"pod subnet 10.244.0.0/16 and service subnet 10.96.0.0/12 do not overlap the VPC 172.16.0.0/12"}},
		{"pod overlaps", "networking:\n  podSubnet: 172.20.0.0/16\n  serviceSubnet: 10.96.0.0/12\n", Fail, []string{"pod subnet 172.20.0.0/16 overlaps the VPC 172.16.0.0/12"}},
		{"both overlap", "networking:\n  podSubnet: 172.20.0.0/16,fd00::/48\n  serviceSubnet: 172.30.0.0/16\n", Fail, []string{"pod subnet 172.20.0.0/16 and service subnet 172.30.0.0/16 overlap"}},
		{"dual stack apart", "networking:\n  podSubnet: 10.244.0.0/16, fd00::/48\n", Pass, []string{"pod subnet fd00::/48"}},
		{"none", "networking: {}\n", Skip, []string{"sets no podSubnet"}},
		{"not yaml", "networking: [", Skip, []string{"ClusterConfiguration"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := SubnetsResult(c.yaml, vpc)
			if r.Status != c.status {
				t.Fatalf("status %s, want %s: %+v", r.Status, c.status, r)
			}
			if (r.Status == Fail) != (r.Remedy != "") {
				t.Errorf("remedy %q with status %s", r.Remedy, r.Status)
			}
			for _, w := range c.want {
				if !strings.Contains(r.Evidence, w) {
					t.Errorf("evidence %q lacks %q", r.Evidence, w)
				}
			}
		})
	}
}

func TestReportTitleAndSummary(t *testing.T) {
	r := &Report{Title: "hybridnode cluster check: API server 10.0.0.10:6443, node pool default"}
	r.Add("one", Result{Status: Pass, Evidence: "fine", Remedy: "dropped on a pass"})
	r.Add("two", Result{Status: Warn, Evidence: "hm", Remedy: "do this", Details: []string{"detail"}})
	if r.Result != "warnings" || r.Checks[0].Remedy != "" {
		t.Fatalf("%+v", r)
	}
	r.Add("three", Result{Status: Fail, Evidence: "bad", Remedy: "fix it"})
	var text, js bytes.Buffer
	r.WriteText(&text)
	want := "hybridnode cluster check: API server 10.0.0.10:6443, node pool default\n" +
		"PASS  one    fine\n" +
		"WARN  two    hm\n" +
		"             fix: do this\n" +
		"             | detail\n" +
		"FAIL  three  bad\n" +
		"             fix: fix it\n" +
		"1 pass, 1 warn, 1 fail, 0 skip: failed\n"
	if text.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", text.String(), want)
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back["result"] != "failed" || back["title"] != nil || back["Title"] != nil {
		t.Errorf("json: %v\n%s", err, js.String())
	}
	if got := r.Failed(); len(got) != 1 || got[0] != "three" {
		t.Errorf("failed = %v", got)
	}
	// Without a title, doctor's header.
	text.Reset()
	(&Report{Node: "n1", APIServer: "a:6443"}).WriteText(&text)
	if !strings.HasPrefix(text.String(), "hybridnode doctor: node n1, API server a:6443 (not joined)\n") {
		t.Errorf("doctor header: %q", text.String())
	}
}
