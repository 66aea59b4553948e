package config

// MetadataKeys are the fields that a hand run on an ECS instance may take
// from the instance metadata service.
var MetadataKeys = []string{"providerID", "nodeName", "vpcCIDR"}

// Unset reports whether no file, variable or flag set key: its value is a
// default, derived from another field or taken from the install record.
func (l *Loaded) Unset(key string) bool {
	k := l.Sources[key].Kind
	return k == "" || k == "default" || k == "derived" || k == "installed"
}

// wantFromMetadata lists the MetadataKeys still unset.
func (l *Loaded) wantFromMetadata() []string {
	var out []string
	for _, k := range MetadataKeys {
		if l.Unset(k) {
			out = append(out, k)
		}
	}
	return out
}

// applyMetadata sets the fields in values (config key -> value) that are
// still unset, marking their source "metadata"; a field set by the file,
// the environment or a flag is never touched. It returns the keys applied.
func (l *Loaded) applyMetadata(values map[string]string) []string {
	var applied []string
	for _, k := range MetadataKeys {
		v, ok := values[k]
		if !ok || v == "" || !l.Unset(k) {
			continue
		}
		if err := l.Config.SetString(k, v); err != nil {
			continue
		}
		l.Sources[k] = Source{Kind: "metadata"}
		applied = append(applied, k)
	}
	return applied
}
