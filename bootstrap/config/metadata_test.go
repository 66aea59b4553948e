package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestApplyMetadataOnlyToUnsetFields(t *testing.T) {
	env := ackEnv()
	delete(env, "ALIBABA_CLOUD_NODE_NAME")
	delete(env, "ALIBABA_CLOUD_PROVIDER_ID")
	l, err := load(t, env, "vpcCIDR: 172.16.0.0/12\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	l.derive("host-1") // nodeName derived from the hostname: still unset
	if got := l.wantFromMetadata(); !reflect.DeepEqual(got, []string{"providerID", "nodeName"}) {
		t.Fatalf("want from metadata = %v", got)
	}
	applied := l.applyMetadata(map[string]string{"providerID": "cn-hangzhou.i-meta", "nodeName": "cn-hangzhou.10.0.1.5", "vpcCIDR": "10.0.0.0/8"})
	if !reflect.DeepEqual(applied, []string{"providerID", "nodeName"}) {
		t.Fatalf("applied = %v", applied)
	}
	if l.Config.NodeName != "cn-hangzhou.10.0.1.5" || l.Config.ProviderID != "cn-hangzhou.i-meta" || l.Config.VPCCIDR != "172.16.0.0/12" {
		t.Fatalf("config = %+v", l.Config)
	}
	out := string(l.Dump())
	for _, want := range []string{"nodeName: cn-hangzhou.10.0.1.5  # metadata\n", "providerID: cn-hangzhou.i-meta  # metadata\n", "vpcCIDR: 172.16.0.0/12  # file /etc/hybridnode/config.yaml\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("dump lacks %q:\n%s", want, out)
		}
	}
}

func TestApplyMetadataNeverOverridesEnvironment(t *testing.T) {
	l, err := load(t, ackEnv(), "", map[string]string{"vpcCIDR": "10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	if got := l.wantFromMetadata(); len(got) != 0 {
		t.Fatalf("want from metadata = %v, want nothing", got)
	}
	if applied := l.applyMetadata(map[string]string{"providerID": "x.y", "nodeName": "x.1", "vpcCIDR": "192.168.0.0/16"}); len(applied) != 0 {
		t.Fatalf("applied %v over the environment and flags", applied)
	}
	if l.Config.NodeName != "cn-hangzhou.10.10.24.7" || l.Config.VPCCIDR != "10.0.0.0/8" {
		t.Fatalf("config = %+v", l.Config)
	}
}

func TestValidateMetadataFields(t *testing.T) {
	for _, c := range []struct{ env, value, want string }{
		{"HYBRIDNODE_METADATA_ENDPOINT", "100.100.100.200", "http(s)://"},
		{"HYBRIDNODE_VPC_CIDR", "10.0.0.0", "a CIDR such as 10.0.0.0/8"},
		{"HYBRIDNODE_VPC_CIDR", "10.0.0.0/33", "a CIDR"},
	} {
		env := ackEnv()
		env[c.env] = c.value
		l, err := load(t, env, "", nil)
		if err == nil {
			_, err = validate(l, ResolveOptions{Join: true})
		}
		var e *Error
		if !errors.As(err, &e) || len(e.Problems) != 1 || !strings.HasPrefix(e.Problems[0].String(), c.env+":") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%s: %v", c.env, c.value, err)
		}
	}
	env := ackEnv()
	env["HYBRIDNODE_METADATA_ENDPOINT"] = "http://127.0.0.1:8080"
	env["HYBRIDNODE_VPC_CIDR"] = "10.0.0.0/8"
	l, _ := load(t, env, "", nil)
	if _, err := validate(l, ResolveOptions{Join: true}); err != nil {
		t.Fatal(err)
	}
}
