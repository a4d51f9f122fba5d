package layout

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/build/constraint"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPackageDocsListTheirImports checks that the "Imports:" paragraph of
// every package's doc.go names exactly the weft packages its non-test files
// import: a missing entry and a stale one both fail, so the doc stays the
// truth when imports change.
func TestPackageDocsListTheirImports(t *testing.T) {
	for _, p := range loadModule(t) {
		for _, msg := range checkDoc(p) {
			t.Error(msg)
		}
	}
}

// TestImportDirection checks the direction of imports: cmd → pkg/app →
// components → shared packages, components never importing each other and
// nothing outside cmd/ importing a command's packages.
func TestImportDirection(t *testing.T) {
	for _, p := range loadModule(t) {
		for _, msg := range checkDirection(p) {
			t.Error(msg)
		}
	}
}

// pkg is one package of the module, as its non-test files describe it.
type pkg struct {
	dir     string              // module-relative, slash-separated: "pkg/wire"
	name    string              // package clause: "wire", "main"
	imports map[string][]string // module-relative weft import → the files importing it
	doc     *docImports         // nil when the package has no doc.go
}

// docImports is what a doc.go's package comment says the package imports.
type docImports struct {
	hasComment bool     // doc.go has a package comment at all
	paragraphs int      // how many paragraphs start with "Imports:"
	declared   []string // the module-relative paths listed
	malformed  []string // entries that are not package paths
}

// componentOf returns the role component that dir belongs to, or "" for
// pkg/app, the shared packages and everything outside pkg/. A new role's
// package must be added here when it is created; the names of the roles
// already planned are listed so that they are checked from their first
// commit.
func componentOf(dir string) string {
	rest, ok := strings.CutPrefix(dir, "pkg/")
	if !ok {
		return ""
	}
	top, _, _ := strings.Cut(rest, "/")
	switch top {
	case "distributor", "ingester", "querier", "storegateway", "compactor",
		"frontend", "queryfrontend", "scheduler", "queryscheduler",
		"ruler", "alertmanager", "ui":
		return top
	case "notebook":
		// The notebooks are the ui role's backend: one component with
		// pkg/ui.
		return "ui"
	}
	return ""
}

// commandOf returns the command whose directory holds dir ("weft-load" for
// cmd/weft-load and cmd/weft-load/loadgen), or "".
func commandOf(dir string) string {
	rest, ok := strings.CutPrefix(dir, "cmd/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

func isApp(dir string) bool { return dir == "pkg/app" || strings.HasPrefix(dir, "pkg/app/") }

// needsDoc reports whether the package must have a doc.go with an Imports
// paragraph: every package under pkg/ and internal/, and the library
// packages under cmd/ (a command's main package documents itself in main.go).
// integration/ is left out: all its code is in test files.
func needsDoc(p pkg) bool {
	switch {
	case strings.HasPrefix(p.dir, "pkg/"), strings.HasPrefix(p.dir, "internal/"):
		return true
	case strings.HasPrefix(p.dir, "cmd/"):
		return p.name != "main"
	}
	return false
}

// checkDoc returns one message per way p's doc.go fails to state its
// imports, each naming the file to fix and the paragraph to write.
func checkDoc(p pkg) []string {
	if !needsDoc(p) {
		return nil
	}
	want := sortedKeys(p.imports)
	para := importsParagraph(want)
	file := p.dir + "/doc.go"
	switch {
	case p.doc == nil:
		return []string{fmt.Sprintf("%s has no doc.go. Create %s holding the package comment "+
			"(what the package owns, in a short paragraph; long design notes go to docs/), "+
			"ending with the paragraph:\n\n%s\n\tpackage %s", p.dir, file, para, p.name)}
	case !p.doc.hasComment:
		return []string{fmt.Sprintf("%s has no package comment (it must end on the line right above "+
			"\"package %s\"). Write one, ending with the paragraph:\n\n%s", file, p.name, para)}
	case p.doc.paragraphs == 0:
		return []string{fmt.Sprintf("%s: the package comment has no \"Imports:\" paragraph. "+
			"Add, as its last paragraph (after an empty // line):\n\n%s", file, para)}
	case p.doc.paragraphs > 1:
		return []string{fmt.Sprintf("%s: the package comment has %d \"Imports:\" paragraphs; "+
			"keep one, reading:\n\n%s", file, p.doc.paragraphs, para)}
	case len(p.doc.malformed) > 0:
		return []string{fmt.Sprintf("%s: the \"Imports:\" paragraph lists %q, which is not a weft "+
			"package path. List module-relative paths (pkg/wire), separated by commas and "+
			"ending with a period, or \"none\"; libraries are not listed. It should read:\n\n%s",
			file, p.doc.malformed, para)}
	}
	var missing, stale []string
	for _, imp := range want {
		if !slices.Contains(p.doc.declared, imp) {
			missing = append(missing, fmt.Sprintf("%s (in %s)", imp, strings.Join(p.imports[imp], ", ")))
		}
	}
	for _, d := range p.doc.declared {
		if _, ok := p.imports[d]; !ok {
			stale = append(stale, d)
		}
	}
	if len(missing) == 0 && len(stale) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: the \"Imports:\" paragraph does not match what the non-test files of %s import.\n", file, p.dir)
	if len(missing) > 0 {
		fmt.Fprintf(&b, "\timported but not listed: %s\n", strings.Join(missing, "; "))
	}
	if len(stale) > 0 {
		fmt.Fprintf(&b, "\tlisted but no longer imported: %s\n", strings.Join(stale, ", "))
	}
	fmt.Fprintf(&b, "If the imports are right (TestImportDirection reports those that are not: fix "+
		"those in the code, not in doc.go), replace the paragraph with:\n\n%s", para)
	return []string{b.String()}
}

// checkDirection returns one message per import of p that goes against the
// direction cmd → pkg/app → components → shared packages.
func checkDirection(p pkg) []string {
	var msgs []string
	cmd, comp := commandOf(p.dir), componentOf(p.dir)
	isMain := cmd != "" && p.name == "main"
	shared := strings.HasPrefix(p.dir, "internal/") ||
		strings.HasPrefix(p.dir, "pkg/") && comp == "" && !isApp(p.dir)
	for _, imp := range sortedKeys(p.imports) {
		where := fmt.Sprintf("%s imports %s (in %s)", p.dir, imp, strings.Join(p.imports[imp], ", "))
		impCmd, impComp := commandOf(imp), componentOf(imp)
		switch {
		case impCmd != "" && impCmd != cmd:
			msgs = append(msgs, where+": only cmd/"+impCmd+" itself may import the packages under cmd/"+
				impCmd+"/; product code must not depend on tools (test files may).")
		case isApp(imp) && !isMain:
			msgs = append(msgs, where+": only the commands (cmd/*) import pkg/app, which wires every role.")
		case isMain && !isApp(imp) && impCmd != cmd:
			msgs = append(msgs, where+": a command parses flags and calls pkg/app; move the use of "+
				imp+" into pkg/app (a command may also import its own packages under cmd/"+cmd+"/).")
		case comp != "" && impComp != "" && impComp != comp:
			msgs = append(msgs, where+": components never import each other; they meet through "+
				"pkg/wire's interfaces and pkg/app wires them together. Fix the code, not doc.go.")
		case shared && impComp != "":
			msgs = append(msgs, where+": a shared package never imports a component (the direction is "+
				"cmd → pkg/app → components → shared packages). Fix the code, not doc.go.")
		}
	}
	return msgs
}

// importsParagraph formats the paragraph a doc.go should end with, wrapped
// like the rest of a doc comment.
func importsParagraph(imports []string) string {
	text := "Imports: none."
	if len(imports) > 0 {
		text = "Imports: " + strings.Join(imports, ", ") + "."
	}
	var lines []string
	line := "\t//"
	for _, w := range strings.Fields(text) {
		if len(line)+1+len(w) > 78 && line != "\t//" {
			lines = append(lines, line)
			line = "\t//"
		}
		line += " " + w
	}
	return strings.Join(append(lines, line), "\n")
}

// parseDocImports reads the "Imports:" paragraphs of a package comment.
func parseDocImports(doc *ast.CommentGroup) *docImports {
	d := &docImports{}
	if doc == nil {
		return d
	}
	d.hasComment = true
	for _, para := range strings.Split(doc.Text(), "\n\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(para), "Imports:")
		if !ok {
			continue
		}
		d.paragraphs++
		list := strings.TrimSuffix(strings.Join(strings.Fields(rest), " "), ".")
		if list == "none" {
			continue
		}
		for item := range strings.SplitSeq(list, ",") {
			item = strings.TrimSpace(item)
			if isPackagePath(item) {
				d.declared = append(d.declared, item)
			} else {
				d.malformed = append(d.malformed, item)
			}
		}
	}
	return d
}

func isPackagePath(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || strings.ContainsRune("/_.-", r))
	})
}

// loadModule parses the non-test files of every package of the module that
// holds the working directory. Files of every build configuration count
// (but for "//go:build ignore"), so an import made under one tag only is
// still listed.
func loadModule(t *testing.T) []pkg {
	t.Helper()
	root, module, err := findModule()
	require.NoError(t, err)
	var pkgs []pkg
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if path != root {
			name := d.Name()
			if name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // another module
			}
		}
		p, ok, err := loadPackage(root, path, module)
		if ok {
			pkgs = append(pkgs, p)
		}
		return err
	})
	require.NoError(t, err)
	// Guard against a walk that finds nothing and so checks nothing.
	dirs := make([]string, 0, len(pkgs))
	for _, p := range pkgs {
		dirs = append(dirs, p.dir)
	}
	require.Subset(t, dirs, []string{"pkg/app", "pkg/wire", "cmd/weft", "internal/layout"}, "packages found under %s", root)
	return pkgs
}

// findModule returns the directory of the go.mod above the working
// directory and its module path.
func findModule() (root, module string, err error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", "", fmt.Errorf("cannot find the module: %w", err)
	}
	for {
		f, err := os.Open(filepath.Join(dir, "go.mod"))
		if err == nil {
			defer f.Close()
			s := bufio.NewScanner(f)
			for s.Scan() {
				if rest, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module "); ok {
					return dir, strings.Trim(strings.TrimSpace(rest), `"`), nil
				}
			}
			return "", "", fmt.Errorf("cannot find the module line in %s: %v", f.Name(), s.Err())
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", "", fmt.Errorf("cannot find go.mod above the working directory")
		}
		dir = parent
	}
}

// loadPackage parses the non-test Go files of dir; ok is false when it has
// none.
func loadPackage(root, dir, module string) (p pkg, ok bool, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return pkg{}, false, fmt.Errorf("cannot read %s: %w", dir, err)
	}
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		return pkg{}, false, fmt.Errorf("cannot place %s in the module: %w", dir, err)
	}
	p = pkg{dir: filepath.ToSlash(rel), imports: map[string][]string{}}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return pkg{}, false, fmt.Errorf("cannot parse %s/%s: %w", p.dir, name, err)
		}
		if ignored(f) {
			continue
		}
		if p.name != "" && p.name != f.Name.Name {
			return pkg{}, false, fmt.Errorf("cannot load %s: files of packages %s and %s", p.dir, p.name, f.Name.Name)
		}
		p.name, ok = f.Name.Name, true
		for _, spec := range f.Imports {
			path, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return pkg{}, false, fmt.Errorf("cannot read an import of %s/%s: %w", p.dir, name, err)
			}
			if imp, weft := strings.CutPrefix(path, module+"/"); weft && !slices.Contains(p.imports[imp], name) {
				p.imports[imp] = append(p.imports[imp], name)
			}
		}
		if name == "doc.go" {
			p.doc = parseDocImports(f.Doc)
		}
	}
	return p, ok, nil
}

// ignored reports whether f is excluded from every build by
// "//go:build ignore", as generators are.
func ignored(f *ast.File) bool {
	for _, g := range f.Comments {
		if g.Pos() > f.Package {
			break
		}
		for _, c := range g.List {
			if !constraint.IsGoBuild(c.Text) {
				continue
			}
			expr, err := constraint.Parse(c.Text)
			if tag, ok := expr.(*constraint.TagExpr); err == nil && ok && tag.Tag == "ignore" {
				return true
			}
		}
	}
	return false
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestParseDocImports(t *testing.T) {
	f := func(comment string, want *docImports) {
		t.Helper()
		src := comment + "package x\n"
		file, err := parser.ParseFile(token.NewFileSet(), "doc.go", src, parser.ParseComments|parser.PackageClauseOnly)
		require.NoError(t, err)
		require.Equal(t, want, parseDocImports(file.Doc), comment)
	}
	f("", &docImports{})
	f("// Package x does y.\n", &docImports{hasComment: true})
	f("// Package x does y.\n//\n// Imports: none.\n", &docImports{hasComment: true, paragraphs: 1})
	f("// Package x does y.\n//\n// Imports: pkg/wire.\n",
		&docImports{hasComment: true, paragraphs: 1, declared: []string{"pkg/wire"}})
	f("// Package x does y.\n//\n// Imports: pkg/a, pkg/b,\n// pkg/c.\n//\n// More.\n",
		&docImports{hasComment: true, paragraphs: 1, declared: []string{"pkg/a", "pkg/b", "pkg/c"}})
	f("// Package x does y.\n//\n// Imports: pkg/wire and libraries.\n",
		&docImports{hasComment: true, paragraphs: 1, malformed: []string{"pkg/wire and libraries"}})
	f("// Imports: pkg/a.\n//\n// Imports: pkg/b.\n",
		&docImports{hasComment: true, paragraphs: 2, declared: []string{"pkg/a", "pkg/b"}})
	// Prose that merely mentions imports is not the paragraph.
	f("// Package x imports pkg/a.\n", &docImports{hasComment: true})
}

func TestCheckDoc(t *testing.T) {
	imports := map[string][]string{"pkg/wire": {"a.go"}, "pkg/codec": {"a.go", "b.go"}}
	f := func(p pkg, want ...string) {
		t.Helper()
		msgs := checkDoc(p)
		if len(want) == 0 {
			require.Empty(t, msgs)
			return
		}
		require.Len(t, msgs, 1)
		for _, w := range want {
			require.Contains(t, msgs[0], w)
		}
	}
	declared := func(paths ...string) *docImports {
		return &docImports{hasComment: true, paragraphs: 1, declared: paths}
	}
	f(pkg{dir: "pkg/x", name: "x", imports: imports, doc: declared("pkg/wire", "pkg/codec")})
	f(pkg{dir: "pkg/x", name: "x", doc: declared()})
	// Order does not matter, but the paragraph suggested is sorted.
	f(pkg{dir: "pkg/x", name: "x", imports: imports, doc: declared("pkg/wire")},
		"pkg/x/doc.go:", "imported but not listed: pkg/codec (in a.go, b.go)",
		"\t// Imports: pkg/codec, pkg/wire.")
	f(pkg{dir: "pkg/x", name: "x", imports: imports, doc: declared("pkg/wire", "pkg/codec", "pkg/ring")},
		"pkg/x/doc.go:", "listed but no longer imported: pkg/ring", "\t// Imports: pkg/codec, pkg/wire.")
	f(pkg{dir: "pkg/x", name: "x", doc: declared("pkg/ring")}, "\t// Imports: none.")
	f(pkg{dir: "pkg/x", name: "x", imports: imports}, "pkg/x has no doc.go", "Create pkg/x/doc.go", "\tpackage x")
	f(pkg{dir: "pkg/x", name: "x", doc: &docImports{}}, "pkg/x/doc.go has no package comment")
	f(pkg{dir: "pkg/x", name: "x", doc: &docImports{hasComment: true}}, `no "Imports:" paragraph`)
	f(pkg{dir: "pkg/x", name: "x", doc: &docImports{hasComment: true, paragraphs: 2}}, `2 "Imports:" paragraphs`)
	f(pkg{dir: "pkg/x", name: "x", doc: &docImports{hasComment: true, paragraphs: 1, malformed: []string{"libraries"}}},
		`"libraries"`, "not a weft package path")
	// Command main packages, and packages outside pkg/, internal/ and cmd/, need none.
	f(pkg{dir: "cmd/weft", name: "main", imports: map[string][]string{"pkg/app": {"main.go"}}})
	f(pkg{dir: "integration", name: "integration"})
	f(pkg{dir: "cmd/weft-load/loadgen", name: "loadgen"}, "cmd/weft-load/loadgen has no doc.go")
	// A long list is wrapped.
	long := map[string][]string{}
	for _, c := range []string{"aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc", "dddddddddd", "eeeeeeeeee", "ffffffffff"} {
		long["pkg/"+c] = []string{"a.go"}
	}
	f(pkg{dir: "pkg/x", name: "x", imports: long, doc: declared()},
		"\t// Imports: pkg/aaaaaaaaaa, pkg/bbbbbbbbbb, pkg/cccccccccc, pkg/dddddddddd,\n\t// pkg/eeeeeeeeee, pkg/ffffffffff.")
}

func TestCheckDirection(t *testing.T) {
	f := func(dir, name, imp string, want string) {
		t.Helper()
		msgs := checkDirection(pkg{dir: dir, name: name, imports: map[string][]string{imp: {"a.go"}}})
		if want == "" {
			require.Empty(t, msgs, "%s → %s", dir, imp)
			return
		}
		require.Len(t, msgs, 1, "%s → %s", dir, imp)
		require.Contains(t, msgs[0], dir+" imports "+imp+" (in a.go)")
		require.Contains(t, msgs[0], want)
	}
	f("cmd/weft", "main", "pkg/app", "")
	f("cmd/weft-load", "main", "cmd/weft-load/loadgen", "")
	f("cmd/weft", "main", "pkg/wire", "a command parses flags and calls pkg/app")
	f("cmd/weft", "main", "cmd/weft-load/loadgen", "only cmd/weft-load itself")
	f("pkg/app", "app", "pkg/ingester", "")
	f("pkg/app", "app", "pkg/wire", "")
	f("pkg/app", "app", "cmd/weft-load/loadgen", "product code must not depend on tools")
	f("pkg/querier", "querier", "pkg/wire", "")
	f("pkg/querier", "querier", "pkg/storegateway", "components never import each other")
	f("pkg/ruler", "ruler", "pkg/querier", "components never import each other")
	f("pkg/storegateway/indexheader", "indexheader", "pkg/storegateway", "")
	f("pkg/querier", "querier", "pkg/app", "only the commands (cmd/*) import pkg/app")
	f("pkg/wire", "wire", "pkg/ingester", "a shared package never imports a component")
	f("internal/memcachedtest", "memcachedtest", "pkg/ingester", "a shared package never imports a component")
	f("pkg/remotewrite", "remotewrite", "pkg/wire", "")
	f("cmd/weft-load/loadgen", "loadgen", "pkg/app", "only the commands (cmd/*) import pkg/app")
	f("integration", "integration", "pkg/ingester", "")
}
