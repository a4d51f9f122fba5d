package app

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// alias is the old name of a renamed option, which keeps working, with a
// warning, for one release after the rename.
type alias struct {
	// OldFlag and NewFlag are flag names without the dash.
	OldFlag, NewFlag string
	// OldYAML and NewYAML are dotted key paths in the config file; empty
	// when the old name had no key of its own.
	OldYAML, NewYAML string
}

// aliases is the table of deprecated names: a rename is one entry here.
// Remove an entry one release after it was added.
func aliases() []alias {
	return []alias{
		// The ingester had a second identity for block metadata; its ring
		// ID is now its one identity.
		{OldFlag: "ingester.instance-id", NewFlag: "ingester.ring.instance-id", OldYAML: "ingester.instance_id", NewYAML: "ring.ingester.instance_id"},
	}
}

// aliasValue holds the value given to a deprecated flag until the parse is
// over, when resolveFlagAliases hands it to the new flag: only then is it
// known whether the new flag was given too.
type aliasValue struct {
	target flag.Value
	value  string
}

func (v *aliasValue) String() string { return v.value }

func (v *aliasValue) Set(s string) error { v.value = s; return nil }

// IsBoolFlag lets an alias of a boolean flag be given without a value.
func (v *aliasValue) IsBoolFlag() bool {
	b, ok := v.target.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// registerAliases defines every deprecated flag on fs, whose new flags
// must already be defined.
func registerAliases(fs *flag.FlagSet) {
	for _, a := range aliases() {
		if a.OldFlag == "" {
			continue
		}
		target := fs.Lookup(a.NewFlag)
		if target == nil {
			// A programming error, caught by the tests of this table.
			panic(fmt.Sprintf("deprecated flag -%s aliases -%s, which is not defined", a.OldFlag, a.NewFlag))
		}
		fs.Var(&aliasValue{target: target.Value}, a.OldFlag, "Deprecated: use -"+a.NewFlag+".")
	}
}

// resolveFlagAliases, after fs.Parse, gives the value of each deprecated
// flag that was set to its new flag, and returns a warning for each. Both
// given with different values is an error: neither can be said to win.
func resolveFlagAliases(fs *flag.FlagSet) ([]string, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var (
		warnings []string
		errs     []error
	)
	for _, a := range aliases() {
		if a.OldFlag == "" || !set[a.OldFlag] {
			continue
		}
		old := fs.Lookup(a.OldFlag).Value.String()
		if set[a.NewFlag] {
			if cur := fs.Lookup(a.NewFlag).Value.String(); cur != old {
				errs = append(errs, fmt.Errorf("flags -%s=%q and -%s=%q disagree: -%s is deprecated, give only -%s", a.OldFlag, old, a.NewFlag, cur, a.OldFlag, a.NewFlag))
				continue
			}
		} else if err := fs.Set(a.NewFlag, old); err != nil {
			errs = append(errs, fmt.Errorf("invalid value %q for flag -%s: %w", old, a.OldFlag, err))
			continue
		}
		warnings = append(warnings, fmt.Sprintf("flag -%s is deprecated, use -%s", a.OldFlag, a.NewFlag))
	}
	return warnings, errors.Join(errs...)
}

// resolveYAMLAliases moves each deprecated key of a config file to its new
// path and returns the rewritten document with a warning for each; data
// comes back unchanged when it has no deprecated key, or does not parse
// (the strict decode that follows reports that). Both keys set to
// different values is an error.
func resolveYAMLAliases(data []byte) ([]byte, []string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return data, nil, nil
	}
	root := doc.Content[0]
	var (
		warnings []string
		errs     []error
	)
	for _, a := range aliases() {
		if a.OldYAML == "" {
			continue
		}
		old := takeYAML(root, strings.Split(a.OldYAML, "."))
		if old == nil {
			continue
		}
		newPath := strings.Split(a.NewYAML, ".")
		if cur := lookupYAML(root, newPath); cur != nil {
			if !sameYAML(cur, old) {
				errs = append(errs, fmt.Errorf("keys %s and %s disagree: %s is deprecated, give only %s", a.OldYAML, a.NewYAML, a.OldYAML, a.NewYAML))
				continue
			}
		} else {
			putYAML(root, newPath, old)
		}
		warnings = append(warnings, fmt.Sprintf("YAML key %s is deprecated, use %s", a.OldYAML, a.NewYAML))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	if len(warnings) == 0 {
		return data, nil, nil
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot rewrite deprecated keys: %w", err)
	}
	return out, warnings, nil
}

// lookupYAML returns the value at path under the mapping m, or nil.
func lookupYAML(m *yaml.Node, path []string) *yaml.Node {
	for _, key := range path {
		if m == nil || m.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == key {
				next = m.Content[i+1]
			}
		}
		m = next
	}
	return m
}

// takeYAML removes the key at path from its mapping and returns its value,
// or nil when there is none.
func takeYAML(m *yaml.Node, path []string) *yaml.Node {
	parent := lookupYAML(m, path[:len(path)-1])
	if parent == nil || parent.Kind != yaml.MappingNode {
		return nil
	}
	key := path[len(path)-1]
	for i := 0; i+1 < len(parent.Content); i += 2 {
		if parent.Content[i].Value == key {
			v := parent.Content[i+1]
			parent.Content = append(parent.Content[:i], parent.Content[i+2:]...)
			return v
		}
	}
	return nil
}

// putYAML sets the value at path under m, creating mappings on the way; a
// non-mapping in the way is replaced, and the strict decode reports it.
func putYAML(m *yaml.Node, path []string, v *yaml.Node) {
	for _, key := range path[:len(path)-1] {
		next := lookupYAML(m, []string{key})
		if next == nil || next.Kind != yaml.MappingNode {
			next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, next)
		}
		m = next
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: path[len(path)-1]}, v)
}

// sameYAML reports whether two values are written the same.
func sameYAML(a, b *yaml.Node) bool {
	if a.Kind == yaml.ScalarNode && b.Kind == yaml.ScalarNode {
		return a.Value == b.Value
	}
	ab, errA := yaml.Marshal(a)
	bb, errB := yaml.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ab, bb)
}

// deprecatedReference renders the table of deprecated names for the
// configuration reference.
func deprecatedReference() string {
	var b strings.Builder
	b.WriteString("\n## Deprecated names\n\n")
	b.WriteString("These old names still work for one release, with a warning in the log at start.\n")
	b.WriteString("Giving an old and a new name with different values is an error.\n\n")
	b.WriteString("| old flag | old YAML | use |\n| --- | --- | --- |\n")
	code := func(s string) string {
		if s == "" || s == "-" {
			return "-"
		}
		return "`" + s + "`"
	}
	for _, a := range aliases() {
		fmt.Fprintf(&b, "| %s | %s | %s, %s |\n", code("-"+a.OldFlag), code(a.OldYAML), code("-"+a.NewFlag), code(a.NewYAML))
	}
	return b.String()
}
