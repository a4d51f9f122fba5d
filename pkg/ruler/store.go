package ruler

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/thanos-io/objstore"
	"go.yaml.in/yaml/v3"
)

// rulesDir is the directory of a tenant's rule groups under the tenant's
// prefix in the bucket: <tenant>/rules/<namespace>/<group>, each name
// base64url-encoded (namespaces and groups may hold any character, "/"
// included), each object one rule group in YAML. The block readers skip it:
// it is not a block ULID.
const rulesDir = "rules"

// errGroupNotFound means the group (or namespace) is not stored.
var errGroupNotFound = errors.New("rule group not found")

// store keeps the tenants' rule groups in the bucket. One object per group
// makes every write atomic on every backend: a change never leaves half a
// namespace behind.
type store struct {
	bkt objstore.Bucket
}

func encodeName(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func decodeName(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return string(b), err
}

func namespacePrefix(tenantID, namespace string) string {
	return path.Join(tenantID, rulesDir, encodeName(namespace)) + "/"
}

func groupPath(tenantID, namespace, group string) string {
	return path.Join(tenantID, rulesDir, encodeName(namespace), encodeName(group))
}

// tenants lists the tenants that have a rules directory: one listing of
// the bucket's top level, then one of each tenant's rules directory, every
// poll. A bucket index of rule groups can replace it when tenants number
// in the thousands.
func (s *store) tenants(ctx context.Context) ([]string, error) {
	var all []string
	err := s.bkt.Iter(ctx, "", func(name string) error {
		if strings.HasSuffix(name, "/") {
			all = append(all, strings.TrimSuffix(name, "/"))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list tenants: %w", err)
	}
	var out []string
	for _, t := range all {
		found := false
		err := s.bkt.Iter(ctx, path.Join(t, rulesDir)+"/", func(string) error {
			found = true
			return errStopIter
		})
		if err != nil && !errors.Is(err, errStopIter) {
			return nil, fmt.Errorf("cannot list the rules of tenant %s: %w", t, err)
		}
		if found {
			out = append(out, t)
		}
	}
	return out, nil
}

var errStopIter = errors.New("stop")

// groupRef names one stored group.
type groupRef struct{ namespace, group string }

// list returns the names of the tenant's groups, in namespace then group
// order; namespace, when not empty, restricts them to one namespace.
func (s *store) list(ctx context.Context, tenantID, namespace string) ([]groupRef, error) {
	prefix := path.Join(tenantID, rulesDir) + "/"
	if namespace != "" {
		prefix = namespacePrefix(tenantID, namespace)
	}
	var out []groupRef
	err := s.bkt.Iter(ctx, prefix, func(name string) error {
		rel := strings.TrimPrefix(name, path.Join(tenantID, rulesDir)+"/")
		nsEnc, gEnc, ok := strings.Cut(rel, "/")
		if !ok || gEnc == "" || strings.HasSuffix(gEnc, "/") {
			return nil
		}
		ns, err1 := decodeName(nsEnc)
		g, err2 := decodeName(gEnc)
		if err1 != nil || err2 != nil {
			return nil // not ours
		}
		out = append(out, groupRef{ns, g})
		return nil
	}, objstore.WithRecursiveIter())
	if err != nil {
		return nil, fmt.Errorf("cannot list the rule groups of tenant %s: %w", tenantID, err)
	}
	slices.SortFunc(out, func(a, b groupRef) int {
		if c := strings.Compare(a.namespace, b.namespace); c != 0 {
			return c
		}
		return strings.Compare(a.group, b.group)
	})
	return out, nil
}

// get reads one group.
func (s *store) get(ctx context.Context, tenantID, namespace, group string) (*RuleGroup, error) {
	r, err := s.bkt.Get(ctx, groupPath(tenantID, namespace, group))
	if err != nil {
		if s.bkt.IsObjNotFoundErr(err) {
			return nil, errGroupNotFound
		}
		return nil, fmt.Errorf("cannot read rule group %q of namespace %q: %w", group, namespace, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("cannot read rule group %q of namespace %q: %w", group, namespace, err)
	}
	var g RuleGroup
	if err := yaml.Unmarshal(b, &g); err != nil {
		return nil, fmt.Errorf("cannot parse stored rule group %q of namespace %q: %w", group, namespace, err)
	}
	return &g, nil
}

// load reads every group of the tenant (of one namespace when namespace
// is not empty), by namespace in group-name order.
func (s *store) load(ctx context.Context, tenantID, namespace string) (map[string][]*RuleGroup, error) {
	refs, err := s.list(ctx, tenantID, namespace)
	if err != nil {
		return nil, err
	}
	out := map[string][]*RuleGroup{}
	for _, ref := range refs {
		g, err := s.get(ctx, tenantID, ref.namespace, ref.group)
		if errors.Is(err, errGroupNotFound) {
			continue // deleted since the listing
		}
		if err != nil {
			return nil, err
		}
		out[ref.namespace] = append(out[ref.namespace], g)
	}
	return out, nil
}

// set stores g, replacing a group of the same name in namespace.
func (s *store) set(ctx context.Context, tenantID, namespace string, g *RuleGroup) error {
	b, err := yaml.Marshal(g)
	if err != nil {
		return fmt.Errorf("cannot encode rule group %q: %w", g.Name, err)
	}
	if err := s.bkt.Upload(ctx, groupPath(tenantID, namespace, g.Name), bytes.NewReader(b)); err != nil {
		return fmt.Errorf("cannot store rule group %q of namespace %q: %w", g.Name, namespace, err)
	}
	return nil
}

// delete removes one group; errGroupNotFound when it is not stored.
func (s *store) delete(ctx context.Context, tenantID, namespace, group string) error {
	p := groupPath(tenantID, namespace, group)
	ok, err := s.bkt.Exists(ctx, p)
	if err != nil {
		return fmt.Errorf("cannot delete rule group %q of namespace %q: %w", group, namespace, err)
	}
	if !ok {
		return errGroupNotFound
	}
	if err := s.bkt.Delete(ctx, p); err != nil && !s.bkt.IsObjNotFoundErr(err) {
		return fmt.Errorf("cannot delete rule group %q of namespace %q: %w", group, namespace, err)
	}
	return nil
}

// deleteNamespace removes every group of namespace; errGroupNotFound when
// it has none.
func (s *store) deleteNamespace(ctx context.Context, tenantID, namespace string) error {
	refs, err := s.list(ctx, tenantID, namespace)
	if err != nil {
		return err
	}
	if len(refs) == 0 {
		return errGroupNotFound
	}
	for _, ref := range refs {
		if err := s.delete(ctx, tenantID, ref.namespace, ref.group); err != nil && !errors.Is(err, errGroupNotFound) {
			return err
		}
	}
	return nil
}
