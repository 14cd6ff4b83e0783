package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// KeyDoc documents one configuration key, for the README and for help
// output.
type KeyDoc struct {
	Name        string   // canonical RocketMQ key name
	Aliases     []string // other accepted spellings (older RocketMQ names)
	Default     string   // default in file syntax, or a phrase such as "the host name"
	Description string   // one or two sentences, unit included
	Ignored     bool     // accepted for compatibility, has no effect
}

// keySpec is one row of a configuration table: a key, how it binds to a
// field of C, and its documentation.
type keySpec[C any] struct {
	name       string
	aliases    []string
	doc        string
	defaultDoc string // replaces the rendered default in KeyDoc
	ignored    bool
	bind       func(c *C) value
}

// alias returns the spec with extra accepted spellings.
func (k keySpec[C]) alias(names ...string) keySpec[C] {
	k.aliases = append(k.aliases, names...)
	return k
}

// defaultIs returns the spec with a documented default that replaces the
// rendered one (for defaults that depend on the machine).
func (k keySpec[C]) defaultIs(doc string) keySpec[C] {
	k.defaultDoc = doc
	return k
}

func intKey[C any, T integer](name string, field func(*C) *T, r numberRange, doc string) keySpec[C] {
	return keySpec[C]{name: name, doc: doc, bind: func(c *C) value {
		return intValue[T]{p: field(c), numberRange: r}
	}}
}

func durationKey[C any](name string, field func(*C) *time.Duration, unit time.Duration, unitName string, min, max int64, doc string) keySpec[C] {
	r := durationRange(unit, unitName, min, max)
	return keySpec[C]{name: name, doc: doc, bind: func(c *C) value {
		return durationValue{p: field(c), unit: unit, numberRange: r}
	}}
}

func boolKey[C any](name string, field func(*C) *bool, doc string) keySpec[C] {
	return keySpec[C]{name: name, doc: doc, bind: func(c *C) value { return boolValue{p: field(c)} }}
}

func stringKey[C any](name string, field func(*C) *string, check func(string) string, doc string) keySpec[C] {
	return keySpec[C]{name: name, doc: doc, bind: func(c *C) value {
		return stringValue{p: field(c), check: check}
	}}
}

func ignoredKey[C any](name, doc string) keySpec[C] {
	return keySpec[C]{name: name, doc: doc, ignored: true, bind: func(*C) value { return ignoredValue{} }}
}

// between is an accepted integer range with no clamp.
func between(min, max int64) numberRange { return numberRange{min: min, max: max} }

// keyTable is the set of keys of one configuration struct.
type keyTable[C any] struct {
	kind   string // "broker" or "name server", for messages
	specs  []keySpec[C]
	byName map[string]int     // canonical names and aliases → index in specs
	hints  map[string]string  // advice for known RocketMQ keys petrel does not take
	folded map[string]string  // lower-cased name → canonical name, for "did you mean"
	newC   func() *C          // the defaults
	check  func(c *C) []error // cross-field checks for Validate
}

func newKeyTable[C any](kind string, specs []keySpec[C], hints map[string]string, newC func() *C, check func(*C) []error) *keyTable[C] {
	t := &keyTable[C]{kind: kind, specs: specs, byName: map[string]int{}, hints: hints,
		folded: map[string]string{}, newC: newC, check: check}
	for i, s := range specs {
		for _, n := range append([]string{s.name}, s.aliases...) {
			if _, dup := t.byName[n]; dup {
				panic("config: key " + n + " defined twice")
			}
			t.byName[n] = i
			t.folded[strings.ToLower(n)] = s.name
		}
	}
	return t
}

func (t *keyTable[C]) lookup(key string) (keySpec[C], bool) {
	i, ok := t.byName[key]
	if !ok {
		return keySpec[C]{}, false
	}
	return t.specs[i], true
}

// unknown describes an unknown key, with a suggestion when one is likely.
func (t *keyTable[C]) unknown(key string) string {
	msg := fmt.Sprintf("unknown key %q ignored", key)
	if hint, ok := t.hints[key]; ok {
		return msg + " (" + hint + ")"
	}
	if name, ok := t.folded[strings.ToLower(key)]; ok {
		return msg + " (did you mean " + name + "?)"
	}
	return msg
}

// load parses a properties document into a fresh configuration.
func (t *keyTable[C]) load(r io.Reader, file string) (*C, Warnings, error) {
	props, err := ParseProperties(r)
	if err != nil {
		var se *SyntaxError
		if errors.As(err, &se) {
			se.File = file
			return nil, nil, se
		}
		return nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	c := t.newC()
	warns, err := t.apply(c, props, file)
	if err != nil {
		return nil, warns, err
	}
	return c, warns, nil
}

// loadFile opens path and loads it, naming it by path in messages.
func (t *keyTable[C]) loadFile(path string) (*C, Warnings, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("load %s config: %w", t.kind, err)
	}
	defer f.Close()
	return t.load(f, path)
}

// apply sets every property in order, so a later duplicate wins. It goes on
// after an invalid value so that one run reports every bad line.
func (t *keyTable[C]) apply(c *C, props []Property, file string) (Warnings, error) {
	var warns Warnings
	var errs []error
	seen := map[string]int{} // canonical name → line of its first setting
	for _, p := range props {
		spec, ok := t.lookup(p.Key)
		if !ok {
			warns = append(warns, Warning{File: file, Line: p.Line, Key: p.Key, Msg: t.unknown(p.Key)})
			continue
		}
		if first, dup := seen[spec.name]; dup {
			warns = append(warns, Warning{File: file, Line: p.Line, Key: p.Key,
				Msg: fmt.Sprintf("%s set again (first set at line %d); this later value wins", p.Key, first)})
		} else {
			seen[spec.name] = p.Line
		}
		v := strings.TrimSpace(p.Value)
		note, err := spec.bind(c).set(v)
		if err != nil {
			errs = append(errs, &ValueError{File: file, Line: p.Line, Key: p.Key, Value: v, Want: err.Error()})
			continue
		}
		if note != "" {
			warns = append(warns, Warning{File: file, Line: p.Line, Key: p.Key, Msg: p.Key + ": " + note})
		}
	}
	return warns, errors.Join(errs...)
}

// set applies one override (a command-line flag). Clamp notes are dropped:
// the clamped value is what Properties reports.
func (t *keyTable[C]) set(c *C, key, value string) error {
	spec, ok := t.lookup(key)
	if !ok {
		return fmt.Errorf("%w %q for the %s", ErrUnknownKey, key, t.kind)
	}
	v := strings.TrimSpace(value)
	if _, err := spec.bind(c).set(v); err != nil {
		return &ValueError{Key: key, Value: v, Want: err.Error()}
	}
	return nil
}

// validate re-parses every field's rendering on a scratch copy, which
// checks fields set directly by code against the same rules as the file,
// then runs the cross-field checks.
func (t *keyTable[C]) validate(c *C) error {
	var errs []error
	scratch := *c
	for _, spec := range t.specs {
		if spec.ignored {
			continue
		}
		v := spec.bind(c).String()
		if _, err := spec.bind(&scratch).set(v); err != nil {
			errs = append(errs, &ValueError{Key: spec.name, Value: v, Want: err.Error()})
		}
	}
	if len(errs) == 0 && t.check != nil {
		errs = t.check(c)
	}
	return errors.Join(errs...)
}

// properties renders every honoured key in table order.
func (t *keyTable[C]) properties(c *C) []Property {
	props := make([]Property, 0, len(t.specs))
	for _, spec := range t.specs {
		if !spec.ignored {
			props = append(props, Property{Key: spec.name, Value: spec.bind(c).String()})
		}
	}
	return props
}

// docs documents every key in table order.
func (t *keyTable[C]) docs() []KeyDoc {
	defaults := t.newC()
	docs := make([]KeyDoc, len(t.specs))
	for i, spec := range t.specs {
		d := KeyDoc{Name: spec.name, Aliases: append([]string(nil), spec.aliases...),
			Description: spec.doc, Ignored: spec.ignored}
		switch {
		case spec.defaultDoc != "":
			d.Default = spec.defaultDoc
		case !spec.ignored:
			d.Default = spec.bind(defaults).String()
		}
		docs[i] = d
	}
	return docs
}

// MarkdownTable renders key docs as a Markdown table (key, default,
// description) for the README's configuration section.
func MarkdownTable(docs []KeyDoc) string {
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	var sb strings.Builder
	sb.WriteString("| key | default | description |\n|---|---|---|\n")
	for _, d := range docs {
		name := "`" + d.Name + "`"
		for _, a := range d.Aliases {
			name += " (or `" + a + "`)"
		}
		def := ""
		if d.Default != "" {
			def = "`" + cell(d.Default) + "`"
		}
		fmt.Fprintf(&sb, "| %s | %s | %s |\n", name, def, cell(d.Description))
	}
	return sb.String()
}
