package httpapi_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/distributor"
)

// repoRoot is the module root, seen from this package's directory.
const repoRoot = "../.."

var (
	// idRe matches a whole stable error ID.
	idRe = regexp.MustCompile(`err-weft-[a-z0-9]+(?:-[a-z0-9]+)*`)
	// unfinishedRe matches a string that ends in the start of an ID.
	unfinishedRe = regexp.MustCompile(`err-weft-(?:[a-z0-9]+-)*$`)
	// docRowRe matches a row of the table of IDs in docs/errors.md:
	// | `ID` | status | what happened | reason label | what to do |
	docRowRe = regexp.MustCompile("^\\| `(err-weft-[a-z0-9-]+)` \\|([^|]*)\\|([^|]*)\\|[^|]*\\|([^|]*)\\|\\s*$")
)

// assembled returns, by file, the sources that build error IDs at run time
// and the function that declares every ID they build.
func assembled() map[string]func() []string {
	return map[string]func() []string{
		"pkg/distributor/validate.go": distributor.ErrorIDs,
	}
}

// codeIDs returns every stable error ID of weft's code: those written out in
// string literals of its non-test Go files, found by parsing them, and those
// built at run time, from the lists that declare them. A string literal that
// ends in an unfinished ID ("err-weft-" + ...) anywhere but in a file of
// assembled fails the test, since its IDs would go unseen.
func codeIDs(t *testing.T) map[string][]string {
	t.Helper()
	ids := map[string][]string{} // ID -> where
	fset := token.NewFileSet()
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != repoRoot && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(repoRoot, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			for _, loc := range idRe.FindAllStringIndex(s, -1) {
				ids[s[loc[0]:loc[1]]] = append(ids[s[loc[0]:loc[1]]], fset.Position(lit.Pos()).String())
			}
			if unfinishedRe.MatchString(s) {
				if _, ok := assembled()[rel]; !ok {
					t.Errorf("%s: %q starts an error ID that is completed at run time; write the ID out, or declare the IDs in a list and add it to assembled in this test", fset.Position(lit.Pos()), s)
				}
			}
			return true
		})
		return nil
	})
	require.NoError(t, err)
	for file, list := range assembled() {
		for _, id := range list() {
			require.Regexp(t, "^"+idRe.String()+"$", id, "an ID declared for %s", file)
			ids[id] = append(ids[id], file)
		}
	}
	return ids
}

// docIDs returns the IDs of the table in docs/errors.md, each checked to
// have a status, what happened and what to do. Any other mention of an ID
// in the document must be one of the table's.
func docIDs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docs", "errors.md"))
	require.NoError(t, err)
	var rows []string
	for i, line := range strings.Split(string(b), "\n") {
		m := docRowRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		id, status, what, fix := m[1], strings.TrimSpace(m[2]), strings.TrimSpace(m[3]), strings.TrimSpace(m[4])
		require.Regexp(t, `^[45][0-9][0-9]$`, status, "docs/errors.md:%d: the status of %s", i+1, id)
		require.NotEmpty(t, what, "docs/errors.md:%d: what happened, for %s", i+1, id)
		require.NotEmpty(t, fix, "docs/errors.md:%d: what to do, for %s", i+1, id)
		require.NotContains(t, rows, id, "docs/errors.md:%d: %s has a second row", i+1, id)
		rows = append(rows, id)
	}
	require.NotEmpty(t, rows, "docs/errors.md has no table of error IDs")
	for _, id := range idRe.FindAllString(string(b), -1) {
		require.Contains(t, rows, id, "docs/errors.md mentions %s outside the table", id)
	}
	return rows
}

// Every error ID of the code is documented in docs/errors.md, and every ID
// documented there exists in the code.
func TestErrorIDsDocumented(t *testing.T) {
	code := codeIDs(t)
	docs := docIDs(t)
	var undocumented, stale []string
	for id, where := range code {
		if !slices.Contains(docs, id) {
			undocumented = append(undocumented, id+" ("+strings.Join(where, ", ")+")")
		}
	}
	for _, id := range docs {
		if _, ok := code[id]; !ok {
			stale = append(stale, id)
		}
	}
	slices.Sort(undocumented)
	require.Empty(t, undocumented, "error IDs of the code missing from the table of docs/errors.md")
	require.Empty(t, stale, "error IDs of docs/errors.md that no code returns")
}
