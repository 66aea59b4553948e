package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Source says where a field's value came from.
type Source struct {
	Kind string // "default", "derived", "file", "env", "flag", "metadata"
	Name string // file path, variable or flag name, or what it was derived from
}

func (s Source) String() string {
	switch s.Kind {
	case "default":
		return "default"
	case "file":
		return "file " + s.Name
	case "env":
		return "env " + s.Name
	case "flag":
		return "flag --" + s.Name
	default:
		if s.Name == "" {
			return s.Kind
		}
		return s.Kind + " " + s.Name
	}
}

// Loaded is a configuration with the source of every field.
type Loaded struct {
	Config  Config
	Sources map[string]Source
	// Files are the config files read, in the order applied: the main file
	// (config.yaml or --config), then the drop-ins of config.d.
	Files []string
}

// Where names a field the way its user set it: the environment variable,
// the flag, or the key in the config file.
func (l *Loaded) Where(key string) string {
	s := l.Sources[key]
	switch s.Kind {
	case "env":
		return s.Name
	case "flag":
		return "--" + s.Name
	case "file":
		return key + " (" + s.Name + ")"
	default:
		return key
	}
}

// LoadOptions are the inputs of Load; zero values use the real process.
type LoadOptions struct {
	// File is an explicit --config path (must exist). Empty: DefaultFile
	// when present.
	File string
	// DefaultFile replaces DefaultFile (tests, --root). The drop-in
	// directory (DropInDir) is the one beside it.
	DefaultFile string
	ReadFile    func(string) ([]byte, error)
	ReadDir     func(string) ([]fs.DirEntry, error)
	LookupEnv   func(string) (string, bool)
	// Flags holds the flags the user set: config key -> raw value.
	Flags map[string]string
}

// DropInDir is the directory of drop-ins beside a main config file:
// /etc/hybridnode/config.d for /etc/hybridnode/config.yaml.
func DropInDir(mainFile string) string { return filepath.Join(filepath.Dir(mainFile), "config.d") }

// Load reads defaults, the config file, its drop-ins (config.d/*.yaml in
// lexical order, so 50-node-pool.yaml from the node-pool script overrides
// config.yaml and a 90-local.yaml overrides both), the environment and
// flags, lowest first. Every problem found is returned at once as *Error.
func Load(o LoadOptions) (*Loaded, error) {
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	if o.ReadDir == nil {
		o.ReadDir = os.ReadDir
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	l := &Loaded{Config: Defaults(), Sources: map[string]Source{}}
	for _, f := range Fields {
		l.Sources[f.Key] = Source{Kind: "default"}
	}
	var errs Error

	def := o.DefaultFile
	if def == "" {
		def = DefaultFile
	}
	path, explicit := o.File, o.File != ""
	if !explicit {
		path = def
	}
	data, err := o.ReadFile(path)
	switch {
	case err == nil:
		l.Files = append(l.Files, path)
		errs.Problems = append(errs.Problems, l.applyFile(path, data)...)
	case explicit || !errors.Is(err, fs.ErrNotExist):
		errs.add("--config", path, "a readable YAML config file: "+err.Error())
	}
	dir := DropInDir(def)
	entries, err := o.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs.add(dir, "", "a readable directory of *.yaml drop-ins: "+err.Error())
	}
	for _, e := range entries { // os.ReadDir sorts by name
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		data, err := o.ReadFile(p)
		if err != nil {
			errs.add(p, "", "a readable YAML config file: "+err.Error())
			continue
		}
		l.Files = append(l.Files, p)
		errs.Problems = append(errs.Problems, l.applyFile(p, data)...)
	}

	for _, f := range Fields {
		var set []string
		for _, name := range f.Env {
			if v, ok := o.LookupEnv(name); ok && strings.TrimSpace(v) != "" {
				set = append(set, name)
			}
		}
		if len(set) == 0 {
			continue
		}
		v, _ := o.LookupEnv(set[0])
		for _, other := range set[1:] {
			if w, _ := o.LookupEnv(other); strings.TrimSpace(w) != strings.TrimSpace(v) {
				errs.add(other, w, "the same value as "+set[0]+" ("+v+") or unset: both name the same field")
			}
		}
		if err := l.Config.SetString(f.Key, v); err != nil {
			errs.add(set[0], v, err.Error())
			continue
		}
		l.Sources[f.Key] = Source{Kind: "env", Name: set[0]}
	}

	for key, v := range o.Flags {
		f, ok := FieldByKey(key)
		if !ok || f.Flag == "" {
			errs.add(key, v, "a known flag")
			continue
		}
		if err := l.Config.SetString(key, v); err != nil {
			errs.add("--"+f.Flag, v, err.Error())
			continue
		}
		l.Sources[key] = Source{Kind: "flag", Name: f.Flag}
	}
	if len(errs.Problems) > 0 {
		return l, &errs
	}
	return l, nil
}

// applyFile merges the keys present in a YAML config file. Unknown keys and
// wrongly typed values are problems naming the key.
func (l *Loaded) applyFile(path string, data []byte) []Problem {
	var raw map[string]json.RawMessage
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return []Problem{{Field: path, Want: "valid YAML: " + err.Error()}}
	}
	var problems []Problem
	for key, msg := range raw {
		if _, ok := FieldByKey(key); !ok {
			problems = append(problems, Problem{Field: key + " (" + path + ")", Want: "a known key; see `hybridnode config dump` for the list"})
			continue
		}
		var one Config
		if err := json.Unmarshal([]byte(`{"`+key+`":`+string(msg)+`}`), &one); err != nil {
			got := string(msg)
			if _, secret := value(&Config{}, key).Interface().(Secret); secret {
				got = "" // never echo a secret, however mistyped
			}
			problems = append(problems, Problem{Field: key + " (" + path + ")", Got: got, Want: typeHint(key) + ": " + unwrapJSON(err)})
			continue
		}
		copyField(&l.Config, &one, key)
		l.Sources[key] = Source{Kind: "file", Name: path}
	}
	return problems
}

func typeHint(key string) string {
	switch value(&Config{}, key).Interface().(type) {
	case bool:
		return "true or false"
	case int:
		return "a whole number"
	case []string:
		return "a list of strings"
	case map[string]string:
		return "a map of strings"
	case map[string][]string:
		return "a map of registry to a list of URLs"
	case Duration:
		return "a duration such as 5m"
	default:
		return "a string"
	}
}

func unwrapJSON(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "got a " + te.Value
	}
	return err.Error()
}

// Error holds every problem found in the input; it maps to exit code 2.
type Error struct{ Problems []Problem }

// Problem is one bad input: the variable, flag or key; what it got; what
// was expected.
type Problem struct {
	Field string
	Got   string
	Want  string
}

func (p Problem) String() string {
	if p.Got == "" {
		return fmt.Sprintf("%s: want %s", p.Field, p.Want)
	}
	return fmt.Sprintf("%s: got %q, want %s", p.Field, p.Got, p.Want)
}

func (e *Error) add(field, got, want string) {
	e.Problems = append(e.Problems, Problem{Field: field, Got: got, Want: want})
}

func (e *Error) Error() string {
	lines := make([]string, 0, len(e.Problems)+1)
	lines = append(lines, fmt.Sprintf("invalid configuration (%d problem(s)):", len(e.Problems)))
	for _, p := range e.Problems {
		lines = append(lines, "  - "+p.String())
	}
	return strings.Join(lines, "\n")
}
