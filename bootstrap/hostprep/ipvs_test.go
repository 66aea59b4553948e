package hostprep

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/assets"
	"github.com/hybridnode/hybridnode/assets/golden"
)

func TestIPVSModulesLoadGolden(t *testing.T) {
	got := IPVSModulesLoad()
	golden.Check(t, "modules-load-ipvs", got)
	if !strings.HasPrefix(string(got), assets.Header+"\n") {
		t.Errorf("no header first (reset removes only files that start with it):\n%s", got)
	}
	var mods []string
	for _, l := range strings.Split(strings.TrimSpace(string(got)), "\n") {
		if !strings.HasPrefix(l, "#") {
			mods = append(mods, l)
		}
	}
	if !reflect.DeepEqual(mods, []string{"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "nf_conntrack"}) {
		t.Errorf("modules %v", mods)
	}
}

func TestParseProcModules(t *testing.T) {
	data := "ip_vs_sh 12288 0 - Live 0x0000000000000000\n" +
		"ip_vs 233472 6 ip_vs_sh,ip_vs_wrr,ip_vs_rr, Live 0x0000000000000000\n" +
		"\n" +
		"nf_conntrack 196608 4 xt_conntrack,nf_nat,ip_vs, Live 0x0000000000000000 (E)\n"
	got := ParseProcModules([]byte(data))
	want := map[string]bool{"ip_vs_sh": true, "ip_vs": true, "nf_conntrack": true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if len(ParseProcModules(nil)) != 0 {
		t.Error("modules from nothing")
	}
}
