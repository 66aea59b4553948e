package doctor

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/hybridnode/hybridnode/assets"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
	"github.com/hybridnode/hybridnode/bootstrap/kubeconfig"
	"github.com/hybridnode/hybridnode/bootstrap/proxy"
)

// proxySettings are hybridnode's effective proxy settings, as the join
// computed them: from the configuration, with the node's name and the API
// server of the joined node when the configuration no longer says them (ACK
// gives the node name to the join only), and the cluster's subnets the join
// recorded (hoststate.ClusterPath).
func (e *Env) proxySettings() proxy.Settings {
	c := e.cfg()
	if e.joined() {
		c.NodeName = e.nodeName()
	}
	if c.APIServerEndpoint == "" {
		c.APIServerEndpoint, _ = e.endpoint()
	}
	rec, _ := hoststate.ReadCluster(e.FS) // unreadable: nil, no subnets
	return proxy.New(c, proxy.KnownFrom(c).WithCluster(rec))
}

// unitProxy is what one service's proxy variables are.
type unitProxy struct {
	unit      string
	installed bool
	// files are the variables the unit file and its drop-ins set (their
	// Environment= lines, then the environment files they name, which
	// systemd applies last), in the order systemd applies them; source
	// names the file of each.
	files  map[string]string
	source map[string]string
	// inline are the variables of the Environment= lines alone, and
	// envFiles the EnvironmentFile= settings: what systemd loads at a
	// daemon-reload (the environment files it reads at each start).
	inline   map[string]string
	envFiles []string
	// missing are the environment files named without "-" that are not
	// there: systemd refuses to start the service.
	missing []string
	// ours: hybridnode's drop-in or environment file is there; current:
	// both are what hybridnode writes now.
	ours, current bool
	// loaded are the variables and environment files systemd has loaded
	// (nil: not asked).
	loaded      map[string]string
	loadedFiles []string
	err         error
}

// readUnitProxy reads the proxy variables of unit from its files and from
// systemd; wantDrop and wantEnv are hybridnode's drop-in and environment
// file as it writes them now (nil: none).
func readUnitProxy(ctx context.Context, e *Env, unit string, wantDrop, wantEnv []byte) unitProxy {
	u := unitProxy{unit: unit, files: map[string]string{}, source: map[string]string{}, inline: map[string]string{}}
	file := hoststate.UnitFile(e.FS, e.Facts, unit)
	u.installed = file != ""
	if !u.installed {
		return u
	}
	apply := func(p string) {
		data, err := e.FS.ReadFile(p)
		if err != nil {
			return
		}
		// (An empty Environment= in a later file would reset the earlier
		// files' too; systemd's loaded view, when there is one, counts.)
		env := proxy.ParseEnvironment(data)
		for _, name := range proxy.EnvNames {
			if v, ok := env[name]; ok {
				u.files[name], u.source[name] = v, p
				u.inline[name] = v
			}
		}
		u.envFiles = proxy.EnvironmentFiles(data, u.envFiles)
	}
	apply(file)
	// Drop-ins: by file name across the unit directories; of two with the
	// same name, the one in the directory that comes first (/etc) counts.
	chosen := map[string]string{}
	for _, d := range e.Facts.UnitDirs() {
		des, err := e.FS.ReadDir(path.Join(d, unit+".d"))
		if err != nil {
			continue
		}
		for _, de := range des {
			if _, ok := chosen[de.Name()]; !ok && !de.IsDir() && strings.HasSuffix(de.Name(), ".conf") {
				chosen[de.Name()] = path.Join(d, unit+".d", de.Name())
			}
		}
	}
	names := make([]string, 0, len(chosen))
	for n := range chosen {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		apply(chosen[n])
	}
	// The environment files override Environment=, later ones earlier ones.
	for _, f := range u.envFiles {
		p, optional := strings.CutPrefix(f, "-")
		data, err := e.FS.ReadFile(p)
		if err != nil {
			if !optional {
				u.missing = append(u.missing, p)
			}
			continue
		}
		env := proxy.ParseEnvFile(data)
		for _, name := range proxy.EnvNames {
			if v, ok := env[name]; ok {
				u.files[name], u.source[name] = v, p
			}
		}
	}
	drop, errDrop := e.FS.ReadFile(proxy.DropInPath(unit))
	env, errEnv := e.FS.ReadFile(proxy.EnvFilePath(unit))
	u.ours = errDrop == nil && bytes.HasPrefix(drop, []byte(assets.Header+"\n")) ||
		errEnv == nil && bytes.HasPrefix(env, []byte(assets.Header+"\n"))
	u.current = wantDrop != nil && errDrop == nil && bytes.Equal(drop, wantDrop) && errEnv == nil && bytes.Equal(env, wantEnv)
	if e.Systemd != nil && e.Systemd.Live() {
		env, err := e.Systemd.Environment(ctx, unit)
		if err == nil {
			u.loadedFiles, err = e.Systemd.EnvironmentFiles(ctx, unit)
		}
		if err != nil {
			u.err = err
			return u
		}
		u.loaded = map[string]string{}
		for _, kv := range env {
			if name, v, ok := strings.Cut(kv, "="); ok && slices.Contains(proxy.EnvNames, name) {
				u.loaded[name] = v
			}
		}
	}
	return u
}

// checkProxy: the proxy settings of hybridnode (its configuration),
// containerd and kubelet (their unit files and drop-ins, and what systemd
// has loaded) agree; on a joined node, kubelet's API server is reached
// without the proxy.
func checkProxy(ctx context.Context, e *Env) Result {
	s := e.proxySettings()
	want := map[string]string{}
	for _, kv := range s.Env() {
		want[kv[0]] = kv[1]
	}
	envFile := proxy.RenderEnvFile(s)
	var units []unitProxy
	anyProxy := s.Enabled()
	for _, unit := range []string{hoststate.ContainerdUnit, hoststate.KubeletUnit} {
		u := readUnitProxy(ctx, e, unit, proxy.RenderDropIn(unit, s), envFile)
		units = append(units, u)
		anyProxy = anyProxy || len(u.files) > 0 || len(u.loaded) > 0
	}
	if !anyProxy {
		return Result{Status: Skip, Evidence: "no proxy: none configured for hybridnode (httpProxy, httpsProxy), none set for containerd or kubelet"}
	}

	joined := e.joined()
	var differ, details, notInstalled []string
	foreign, reload, ourStale := false, false, false
	for _, u := range units {
		name := strings.TrimSuffix(u.unit, ".service")
		if !u.installed {
			notInstalled = append(notInstalled, name)
			continue
		}
		if u.err != nil {
			details = append(details, name+": "+u.err.Error())
		}
		if u.loaded != nil && !mapsEqual(u.loaded, u.inline) {
			reload = true
			details = append(details, fmt.Sprintf("%s: systemd has loaded %s, its unit files say %s", name, describe(u.loaded), describe(u.inline)))
		}
		if u.loaded != nil && !slices.Equal(u.loadedFiles, u.envFiles) {
			reload = true
			details = append(details, fmt.Sprintf("%s: systemd has loaded EnvironmentFile= %s, its unit files say %s", name, describeFiles(u.loadedFiles), describeFiles(u.envFiles)))
		}
		for _, p := range u.missing {
			details = append(details, fmt.Sprintf("%s: its EnvironmentFile %s is missing: systemd will not start it", name, p))
		}
		// hybridnode's drop-in and environment file are what it writes
		// now, or none is there to remove.
		if s.Enabled() && !u.current || !s.Enabled() && u.ours {
			ourStale = true
		}
		// What the files say is what the service gets from its next start
		// on (after a reload): that is what must agree.
		got := u.files
		if mapsEqual(got, want) {
			continue
		}
		differ = append(differ, name)
		if len(got) == 0 {
			details = append(details, name+": no proxy in its unit files; hybridnode: "+describe(want))
			continue
		}
		// HTTP_PROXY and http_proxy (...) on one line when they go together.
		for i := 0; i < len(proxy.EnvNames); i += 2 {
			upper, lower := proxy.EnvNames[i], proxy.EnvNames[i+1]
			groups := [][]string{{upper}, {lower}}
			if got[upper] == got[lower] && u.source[upper] == u.source[lower] && want[upper] == want[lower] {
				groups = [][]string{{upper, lower}}
			}
			for _, vars := range groups {
				v := vars[0]
				if got[v] == want[v] {
					continue
				}
				src := u.source[v]
				if src != "" && src != proxy.DropInPath(u.unit) && src != proxy.EnvFilePath(u.unit) {
					foreign = true
				}
				if src == "" {
					src = "not set"
				}
				details = append(details, fmt.Sprintf("%s %s: %s (%s); hybridnode: %s", name, strings.Join(vars, ", "), show(got[v]), src, show(want[v])))
			}
		}
	}
	apiProxied := false
	if joined {
		if why, direct := checkKubeletServer(e, s); !direct {
			details = append(details, why)
			apiProxied = true
		}
	}

	summary := "hybridnode: " + describeSettings(s)
	if s.Enabled() {
		details = append([]string{"NO_PROXY=" + strings.Join(s.NoProxy, ",")}, details...)
	}
	switch {
	case len(differ) == 0 && !apiProxied && !reload && !ourStale:
		ev := summary + "; containerd and kubelet agree"
		if len(notInstalled) > 0 {
			ev = summary + "; " + strings.Join(notInstalled, " and ") + " not installed yet (the join gives them the same)"
		}
		return Result{Status: Pass, Evidence: ev, Details: details}
	case len(differ) == 0 && !apiProxied && !reload:
		return Result{Status: Warn, Evidence: summary + "; the services agree, but hybridnode's drop-ins are not what it writes now",
			Remedy: rewriteRemedy, Details: details}
	case len(differ) == 0 && !apiProxied:
		return Result{Status: Warn, Evidence: summary + "; systemd has not loaded the services' proxy drop-ins yet",
			Remedy: "systemctl daemon-reload, then systemctl restart containerd kubelet", Details: details}
	case len(differ) == 0:
		return Result{Status: Fail, Evidence: summary + "; kubelet's API server is reached through the proxy",
			Remedy: "add the API server's host to noProxy (HYBRIDNODE_NO_PROXY), then " + rewriteRemedy, Details: details}
	}

	verb := "does"
	if len(differ) > 1 {
		verb = "do"
	}
	ev := fmt.Sprintf("%s; %s %s not agree", summary, strings.Join(differ, " and "), verb)
	status, remedy := Fail, rewriteRemedy
	switch {
	case foreign && !s.Enabled():
		// Someone gave the services a proxy on purpose; hybridnode's own
		// downloads go direct.
		status = Warn
		remedy = "another drop-in sets a proxy (see the details): if hybridnode's downloads need it too, set httpProxy, httpsProxy and noProxy to its values; otherwise nothing"
	case foreign:
		remedy = "another drop-in sets the proxy (see the details): remove it or make it agree with hybridnode's, or set httpProxy, httpsProxy and noProxy to its values; then " + rewriteRemedy
	case !s.Enabled():
		remedy = "hybridnode's configuration has no proxy: if the join had one from its environment, put httpProxy, httpsProxy and noProxy in " +
			config.DefaultFile + " (or config.d) so that every run agrees; otherwise run `hybridnode join phase containerd` and " +
			"`hybridnode join phase kubelet`: without a proxy they remove hybridnode's drop-ins and restart the services"
	case !joined:
		status = Warn // the join writes the drop-ins
		remedy = "nothing before the join, which writes containerd's and kubelet's drop-ins; if this persists after it: " + rewriteRemedy
	}
	return Result{Status: status, Evidence: ev, Remedy: remedy, Details: details}
}

const rewriteRemedy = "run `hybridnode join phase containerd` and `hybridnode join phase kubelet` with the node's configuration: they rewrite the drop-ins (" +
	proxy.DropInDir + "/<unit>.d/" + proxy.DropInName + ") and their environment files (" + proxy.EnvFileDir + "/<unit>.env) and restart the services"

// checkKubeletServer: kubelet reaches the server of its kubelet.conf (from
// cluster-info, not always apiServerEndpoint) without the proxy.
func checkKubeletServer(e *Env, s proxy.Settings) (string, bool) {
	f := proxy.Func(s)
	if f == nil {
		return "", true
	}
	cr, err := kubeconfig.Load(e.FS, hoststate.KubeletConf)
	if err != nil {
		return "", true
	}
	u, err := url.Parse(cr.Server)
	if err != nil || u.Host == "" {
		return "", true
	}
	if p, err := f(&http.Request{URL: u}); err == nil && p != nil {
		return fmt.Sprintf("kubelet's API server %s (%s) is not in NO_PROXY: kubelet would reach it through %s", u.Host, hoststate.KubeletConf, config.RedactURL(p.String())), false
	}
	return "", true
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// show is a variable's value for evidence: a proxy URL without its user
// information, a long NO_PROXY shortened.
func show(v string) string {
	if v == "" {
		return "unset"
	}
	v = config.RedactURL(v)
	if len(v) > 160 {
		v = v[:157] + "..."
	}
	return v
}

func describe(env map[string]string) string {
	if len(env) == 0 {
		return "no proxy"
	}
	var parts []string
	for _, v := range proxy.EnvNames {
		if x, ok := env[v]; ok {
			parts = append(parts, v+"="+show(x))
		}
	}
	return strings.Join(parts, " ")
}

func describeFiles(files []string) string {
	if len(files) == 0 {
		return "none"
	}
	return strings.Join(files, " ")
}

func describeSettings(s proxy.Settings) string {
	if !s.Enabled() {
		return "no proxy configured"
	}
	var parts []string
	if s.HTTPProxy != "" {
		parts = append(parts, "http via "+config.RedactURL(s.HTTPProxy))
	}
	if s.HTTPSProxy != "" {
		parts = append(parts, "https via "+config.RedactURL(s.HTTPSProxy))
	}
	return strings.Join(parts, ", ") + fmt.Sprintf(", NO_PROXY of %d entries", len(s.NoProxy))
}
