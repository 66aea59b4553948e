package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"sigs.k8s.io/yaml"
)

// Source says where a field's value came from.
type Source struct {
	Kind string // "default", "derived", "file", "env", "flag", "metadata", "installed"
	Name string // file path (of the install record too), variable or flag name, or what it was derived from
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
	// Warnings are for the caller to log; they stop nothing: a config file
	// or token file that holds the token and is readable by group or others.
	// loadSources fills them, and validate adds the token file's.
	Warnings []string
	// Metadata is what Resolve did with the instance metadata.
	Metadata MetadataLookup

	// problems are loadSources', which validate reports again with its own, so
	// that a value that does not even parse hides nothing else.
	problems []Problem
	// failed are the keys whose last given value did not load; validate
	// says nothing more about them.
	failed map[string]bool
	// secrets are every text given for a secret field (however mistyped),
	// removed from every problem.
	secrets []string
	// unreadable: a config file could not be read or parsed, so fields it
	// may have set are not reported missing.
	unreadable bool
	// installed is the install record Resolve read (no artifactURL):
	// component -> version.
	installed map[string]string
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
	case "file", "installed":
		return key + " (" + s.Name + ")"
	default:
		return key
	}
}

// DropInDir is the directory of drop-ins beside a main config file:
// /etc/hybridnode/config.d for /etc/hybridnode/config.yaml.
func DropInDir(mainFile string) string { return filepath.Join(filepath.Dir(mainFile), "config.d") }

// loadSources reads defaults, the config file, its drop-ins (config.d/*.yaml
// in lexical order, so 50-node-pool.yaml from the node-pool script
// overrides config.yaml and a 90-local.yaml overrides both), the
// environment and flags, lowest first: Resolve's first step. Every problem
// found is returned at once as *Error, with the Loaded as far as it could
// be read: validate of that Loaded reports these problems again with its
// own, so that Resolve returns every problem in one list. No problem
// quotes the token.
func loadSources(o ResolveOptions) (*Loaded, error) {
	if o.ReadDir == nil {
		o.ReadDir = os.ReadDir
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	l := &Loaded{Config: Defaults(), Sources: map[string]Source{}, failed: map[string]bool{}}
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
	data, fi, err := readBounded(o.Open, o.ReadFile, path, MaxFileSize)
	switch {
	case err == nil:
		l.Files = append(l.Files, path)
		errs.Problems = append(errs.Problems, l.applyFile(path, data, fi)...)
	case explicit:
		errs.add("--config", path, fileWant(err))
		l.unreadable = true
	case !errors.Is(err, fs.ErrNotExist):
		errs.add(path, "", fileWant(err))
		l.unreadable = true
	}
	dir := DropInDir(def)
	entries, err := o.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs.add(dir, "", "a readable directory of *.yaml drop-ins: "+err.Error())
		l.unreadable = true
	}
	var dropIns []string
	for _, e := range entries { // os.ReadDir sorts by name
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		dropIns = append(dropIns, e.Name())
	}
	sort.Strings(dropIns)
	if len(dropIns) > MaxDropIns {
		errs.add(dir, "", fmt.Sprintf("at most %d *.yaml drop-ins (it has %d; the first %d were read)", MaxDropIns, len(dropIns), MaxDropIns))
		dropIns = dropIns[:MaxDropIns]
		l.unreadable = true
	}
	for _, name := range dropIns {
		p := filepath.Join(dir, name)
		data, fi, err := readBounded(o.Open, o.ReadFile, p, MaxFileSize)
		if err != nil {
			errs.add(p, "", fileWant(err))
			l.unreadable = true
			continue
		}
		l.Files = append(l.Files, p)
		errs.Problems = append(errs.Problems, l.applyFile(p, data, fi)...)
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
		secret := isSecret(f.Key)
		if secret {
			l.secrets = append(l.secrets, strings.TrimSpace(v))
		}
		for _, other := range set[1:] {
			w, _ := o.LookupEnv(other)
			if strings.TrimSpace(w) == strings.TrimSpace(v) {
				continue
			}
			if f.EnvFallback {
				l.fallbackDiffers(f, set[0], other)
				continue
			}
			if secret {
				l.secrets = append(l.secrets, strings.TrimSpace(w))
				errs.add(other, "", "the same value as "+set[0]+" or unset: both name the same field (values not shown)")
			} else {
				errs.add(other, w, fmt.Sprintf("the same value as %s (%q) or unset: both name the same field", set[0], shorten(strings.TrimSpace(v), maxQuote)))
			}
		}
		l.set(f.Key, v, Source{Kind: "env", Name: set[0]}, set[0], &errs)
	}

	for _, key := range sortedKeys(o.Flags) {
		v := o.Flags[key]
		f, ok := FieldByKey(key)
		if !ok || f.Flag == "" {
			got := v
			if ok && isSecret(key) {
				got = "" // a secret has no flag, and is never echoed
				l.secrets = append(l.secrets, strings.TrimSpace(v))
			}
			errs.add(fieldName(key), got, "a known flag")
			continue
		}
		l.set(key, v, Source{Kind: "flag", Name: f.Flag}, "--"+f.Flag, &errs)
	}
	errs.finish(l.secrets)
	l.problems = errs.Problems
	if len(errs.Problems) > 0 {
		return l, &errs
	}
	return l, nil
}

// set parses v into key from the source src; where names the source in a
// problem. A value that does not parse leaves the field as the lower
// sources had it, marked failed (validate says nothing more about it).
func (l *Loaded) set(key, v string, src Source, where string, errs *Error) {
	l.noteProxySecrets(key, v)
	if want, got := l.Config.setString(key, v); want != "" {
		if isSecret(key) {
			got = "" // never: a secret always parses; kept for safety
		}
		errs.add(where, got, want)
		l.failed[key] = true
		return
	}
	delete(l.failed, key)
	l.Sources[key] = src
}

// fileWant says what a config file that could not be read should be.
func fileWant(err error) string {
	var se *sizeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("a config file of at most %d bytes (1 MiB); it has %s", MaxFileSize, se.size())
	case errors.Is(err, errNotRegular):
		return "a regular YAML config file"
	}
	return "a readable YAML config file: " + err.Error()
}

var errNotRegular = errors.New("not a regular file")

// sizeError is a file over its limit; n < 0: its size was not known
// before reading and it went over while being read.
type sizeError struct{ n int64 }

func (e *sizeError) Error() string { return "file too large: " + e.size() }

func (e *sizeError) size() string {
	if e.n < 0 {
		return "more"
	}
	return fmt.Sprintf("%d bytes", e.n)
}

// readBounded reads at most limit bytes of path. With open (or neither
// open nor readFile: the real file system) the file must be regular and
// its size is checked before anything is read; its FileInfo is returned
// (for the mode). With readFile only, the size is checked after reading
// and the FileInfo is nil.
func readBounded(open func(string) (fs.File, error), readFile func(string) ([]byte, error), path string, limit int64) ([]byte, fs.FileInfo, error) {
	if open == nil && readFile != nil {
		data, err := readFile(path)
		if err != nil {
			return nil, nil, err
		}
		if int64(len(data)) > limit {
			return nil, nil, &sizeError{int64(len(data))}
		}
		return data, nil, nil
	}
	if open == nil {
		open = openFile
	}
	f, err := open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fi, errNotRegular
	}
	if fi.Size() > limit {
		return nil, fi, &sizeError{fi.Size()}
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fi, err
	}
	if int64(len(data)) > limit {
		return nil, fi, &sizeError{-1}
	}
	return data, fi, nil
}

// openFile opens without blocking on a FIFO (which then fails the regular
// file check instead of hanging the command).
func openFile(p string) (fs.File, error) {
	return os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}

// readableByOthers reports whether a group or other read bit is set.
func readableByOthers(fi fs.FileInfo) bool { return fi != nil && fi.Mode().Perm()&0o044 != 0 }

// applyFile merges the keys present in a YAML config file. Unknown keys,
// duplicate keys and wrongly typed values are problems naming the key and
// the file; YAML syntax errors name the line and the kind of error, never
// the text (which may be the token's line).
func (l *Loaded) applyFile(path string, data []byte, fi fs.FileInfo) []Problem {
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		l.unreadable = true
		return []Problem{{Field: path, Want: "valid YAML: " + yamlError(err)}}
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(j, &raw); err != nil {
		l.unreadable = true
		return []Problem{{Field: path, Want: "a YAML mapping of config keys to values, got " + jsonKind(j) + " at the top level"}}
	}
	var problems []Problem
	dups := map[string]bool{}
	if _, err := yaml.YAMLToJSONStrict(data); err != nil {
		problems, dups = duplicateKeys(path, data, err)
	}
	for _, key := range sortedKeys(raw) {
		msg := raw[key]
		if sub := groupKeys(key); sub != nil {
			problems = append(problems, l.applyGroup(path, key, sub, msg, dups[key])...)
			continue
		}
		if _, ok := FieldByKey(key); !ok || group(key) != "" {
			problems = append(problems, Problem{Field: fieldName(key) + " (" + path + ")", Want: "a known key; see `hybridnode config dump` for the list"})
			continue
		}
		if p := l.applyKey(path, key, msg, dups[key]); p != nil {
			problems = append(problems, *p)
		}
	}
	for key, msg := range raw {
		if isKnownSecret(key) && !emptyJSON(msg) && readableByOthers(fi) {
			l.warn(printable(fmt.Sprintf("%s holds the bootstrap token (%s) but is readable by group or others (mode %04o): chmod 600 %s", path, key, fi.Mode().Perm(), path)))
		}
	}
	return problems
}

// applyKey sets one field from its JSON value in the file at path; a
// problem when it does not fit. dup: the key was given twice (reported
// already), so the field is only marked failed.
func (l *Loaded) applyKey(path, key string, msg json.RawMessage, dup bool) *Problem {
	secret := isSecret(key)
	if secret {
		l.secrets = append(l.secrets, jsonLeaves(msg)...)
	}
	l.noteProxySecrets(key, jsonLeaves(msg)...)
	if dup {
		l.failed[key] = true
		return nil
	}
	var one Config
	doc := `{"` + key + `":` + string(msg) + `}`
	if g := group(key); g != "" {
		doc = `{"` + g + `":{"` + strings.TrimPrefix(key, g+".") + `":` + string(msg) + `}}`
	}
	if err := json.Unmarshal([]byte(doc), &one); err != nil {
		p := Problem{Field: key + " (" + path + ")", Got: redactProxyText(key, string(msg)), Want: typeHint(key) + unwrapJSON(err)}
		if secret {
			// Never echo a secret, however mistyped: say only its kind.
			p.Got, p.Want = "", typeHint(key)+": got "+jsonKind(msg)+" (value not shown)"
		}
		l.failed[key] = true
		return &p
	}
	copyField(&l.Config, &one, key)
	delete(l.failed, key)
	l.Sources[key] = Source{Kind: "file", Name: path}
	return nil
}

// applyGroup applies a nested map of fields (tokenService: {url: ...}):
// each known sub-key as its own field, anything else a problem.
func (l *Loaded) applyGroup(path, g string, keys []string, msg json.RawMessage, dup bool) []Problem {
	var names []string
	for _, k := range keys {
		names = append(names, strings.TrimPrefix(k, g+"."))
	}
	if dup {
		for _, k := range keys {
			l.failed[k] = true
		}
		return nil
	}
	var sub map[string]json.RawMessage
	if err := json.Unmarshal(msg, &sub); err != nil {
		for _, k := range keys {
			l.failed[k] = true
		}
		return []Problem{{Field: g + " (" + path + ")", Want: "a map of " + strings.Join(names, ", ") + ": got " + jsonKind(msg)}}
	}
	var problems []Problem
	for _, name := range sortedKeys(sub) {
		key := g + "." + name
		if _, ok := FieldByKey(key); !ok || strings.Contains(name, ".") {
			problems = append(problems, Problem{Field: fieldName(key) + " (" + path + ")", Want: "a known key of " + g + ": " + strings.Join(names, ", ")})
			continue
		}
		if p := l.applyKey(path, key, sub[name], false); p != nil {
			problems = append(problems, *p)
		}
	}
	return problems
}

func isKnownSecret(key string) bool {
	_, ok := FieldByKey(key)
	return ok && isSecret(key)
}

// emptyJSON: null or "" (no secret given).
func emptyJSON(msg json.RawMessage) bool {
	t := strings.TrimSpace(string(msg))
	return t == "" || t == "null" || t == `""`
}

// jsonKind names the kind of a JSON value without quoting it.
func jsonKind(msg []byte) string {
	t := strings.TrimSpace(string(msg))
	if t == "" {
		return "nothing"
	}
	switch t[0] {
	case '{':
		return "a map"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// jsonLeaves returns every string, number and key in a JSON value: what a
// mistyped secret may hold.
func jsonLeaves(msg json.RawMessage) []string {
	d := json.NewDecoder(strings.NewReader(string(msg)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return []string{strings.Trim(strings.TrimSpace(string(msg)), `"`)}
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x, strings.TrimSpace(x))
		case json.Number:
			out = append(out, x.String())
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for k, e := range x {
				out = append(out, k)
				walk(e)
			}
		}
	}
	walk(v)
	return out
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

// unwrapJSON says what a type error got (": got a list"); for other errors
// (a value of the right kind that does not parse) nothing more than the
// type hint.
func unwrapJSON(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		v := te.Value
		switch {
		case v == "array":
			v = "list"
		case v == "object":
			v = "map"
		case v == "bool":
			v = "boolean"
		}
		return ": got a " + v
	}
	return ""
}

var (
	yamlLineRE   = regexp.MustCompile(`^line (\d+): (.*)$`)
	yamlDecodeRE = regexp.MustCompile(`cannot decode (!![a-z]+) .* as an? (!![a-z]+)`)
	// safeYAMLRE: the YAML library's own fixed messages ("did not find
	// expected key"); anything else may quote the input.
	safeYAMLRE = regexp.MustCompile(`^[A-Za-z0-9 ,:()<>-]{1,120}$`)
	dupKeyRE   = regexp.MustCompile(`line (\d+): key ("(?:[^"\\]|\\.)*") already set in map`)
	topKeyRE   = regexp.MustCompile(`^(?:"([^"\\]*)"|'([^']*)'|([A-Za-z0-9_][A-Za-z0-9_.-]*))[ \t]*:(?:[ \t]|$)`)
)

// yamlError describes a YAML syntax error by its line and kind. The YAML
// library quotes the input in some errors (an invalid map key, a tag that
// does not fit, an anchor's name): those are named by kind only, and any
// message that is not one of its fixed phrases becomes "a syntax error".
func yamlError(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	where := ""
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		where, msg = "line "+m[1]+": ", m[2]
	}
	switch {
	case strings.HasPrefix(msg, "invalid map key"):
		return where + "plain keys (a list or a map is used as a key)"
	case strings.HasPrefix(msg, "unknown anchor"):
		return where + "aliases (*name) of anchors (&name) defined before them"
	case yamlDecodeRE.MatchString(msg):
		m := yamlDecodeRE.FindStringSubmatch(msg)
		return where + "values that fit their tags (a " + m[1] + " value is tagged " + m[2] + ")"
	case strings.Contains(msg, "!!binary"):
		return where + "base64 after !!binary"
	case strings.Contains(msg, "unsupported value"):
		return where + "finite numbers (.inf and .nan have no JSON form)"
	case strings.Contains(msg, "excessive aliasing"):
		return where + "less aliasing (the document expands too much)"
	case safeYAMLRE.MatchString(strings.ReplaceAll(msg, "':'", "")):
		return where + msg
	}
	return where + "a syntax error"
}

// duplicateKeys turns the strict parser's duplicate key errors into
// problems naming the key (or, for a key repeated inside a map, the
// top-level key holding it) and the line. It returns the top-level keys
// concerned, which are then not applied.
func duplicateKeys(path string, data []byte, err error) ([]Problem, map[string]bool) {
	var problems []Problem
	dups := map[string]bool{}
	lines := strings.Split(string(data), "\n")
	for _, m := range dupKeyRE.FindAllStringSubmatch(err.Error(), -1) {
		n, _ := strconv.Atoi(m[1])
		k, uerr := strconv.Unquote(m[2])
		if uerr != nil {
			k = ""
		}
		top, sameLine := topKeyAt(lines, n)
		switch {
		case top != "" && sameLine && top == k:
			problems = append(problems, Problem{Field: fieldName(k) + " (" + path + ")", Want: fmt.Sprintf("each key once in the file (line %d repeats it)", n)})
			dups[k] = true
		case top != "" && isKnownSecret(top):
			problems = append(problems, Problem{Field: top + " (" + path + ")", Want: fmt.Sprintf("each key once (line %d repeats a key)", n)})
			dups[top] = true
		case top != "":
			problems = append(problems, Problem{Field: fieldName(top) + " (" + path + ")", Want: fmt.Sprintf("each key of the map once (line %d repeats %q)", n, shorten(k, maxQuote))})
			dups[top] = true
		default:
			problems = append(problems, Problem{Field: path, Want: fmt.Sprintf("each key once (line %d repeats %q)", n, shorten(k, maxQuote))})
		}
	}
	return problems, dups
}

// topKeyAt finds the top-level key whose value holds line n (1-based):
// the nearest line at or above it that starts a key in the first column;
// sameLine says that it is line n itself.
func topKeyAt(lines []string, n int) (key string, sameLine bool) {
	for i := min(n, len(lines)) - 1; i >= 0; i-- {
		line := lines[i]
		if strings.TrimSpace(line) == "" || line[0] == ' ' || line[0] == '\t' || line[0] == '#' {
			continue
		}
		m := topKeyRE.FindStringSubmatch(line)
		if m == nil {
			return "", false
		}
		return m[1] + m[2] + m[3], i == n-1
	}
	return "", false
}

// Error holds every problem found in the input; it maps to exit code 2.
type Error struct{ Problems []Problem }

// Problem is one bad input: the variable, flag or key; what it got; what
// was expected. Got is the input's own text (never a secret's), quoted
// when printed; Field and Want hold no control characters.
type Problem struct {
	Field string
	Got   string
	Want  string
}

func (p Problem) String() string {
	if p.Got == "" {
		return fmt.Sprintf("%s: want %s", printable(p.Field), printable(p.Want))
	}
	return fmt.Sprintf("%s: got %q, want %s", printable(p.Field), p.Got, printable(p.Want))
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
