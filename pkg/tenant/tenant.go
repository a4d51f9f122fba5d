package tenant

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Header carries the tenant ID on every request.
const Header = "X-Scope-OrgID"

// Anonymous is the tenant of every request when multi-tenancy is disabled.
const Anonymous = "anonymous"

// FederationSeparator separates the tenants of a federated read in
// X-Scope-OrgID: "a|b" reads tenants a and b.
const FederationSeparator = "|"

// MaxLength bounds a tenant ID; it becomes a directory and a bucket prefix.
const MaxLength = 150

var (
	// ErrMissing means a request carried no tenant while multi-tenancy is on.
	ErrMissing = errors.New("no tenant ID: set the " + Header + " header")
	// ErrInvalid means a tenant ID cannot be used safely as a path element.
	ErrInvalid = errors.New("invalid tenant ID")
)

type ctxKey struct{}

// With returns ctx carrying tenant id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// From returns the tenant carried by ctx.
func From(ctx context.Context) (string, error) {
	id, ok := ctx.Value(ctxKey{}).(string)
	if !ok || id == "" {
		return "", ErrMissing
	}
	return id, nil
}

// Validate checks that id is safe as a directory name and bucket prefix:
// 1 to MaxLength characters from [A-Za-z0-9!-_.*'()], not "." or "..", and
// not of the form __NAME__, which names weft's own prefixes of the bucket
// (IsReserved).
func Validate(id string) error {
	if id == "" {
		return ErrMissing
	}
	if len(id) > MaxLength {
		return fmt.Errorf("%w: longer than %d characters", ErrInvalid, MaxLength)
	}
	if id == "." || id == ".." || IsReserved(id) {
		return fmt.Errorf("%w: %q is reserved", ErrInvalid, id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '!' || c == '-' || c == '_' || c == '.' || c == '*' || c == '\'' || c == '(' || c == ')':
		default:
			return fmt.Errorf("%w: %q contains the unsupported character %q", ErrInvalid, id, c)
		}
	}
	return nil
}

// IsReserved reports whether name is of the form __NAME__: such top-level
// names of the bucket are weft's own (the Alertmanager configurations
// under __alertmanager__/), never a tenant's.
func IsReserved(name string) bool {
	return len(name) > 4 && strings.HasPrefix(name, "__") && strings.HasSuffix(name, "__")
}

// Resolver picks the tenant of an HTTP request.
type Resolver struct {
	// MultiTenancy, when false, puts every request in Anonymous.
	MultiTenancy bool
	// Federation accepts several tenants, "a|b", for the reads that
	// federate (-tenant-federation.enabled).
	Federation bool
}

// FromRequest returns the tenant of r: the validated X-Scope-OrgID header,
// or Anonymous when multi-tenancy is disabled. With Federation, the
// header may name several tenants, "b|a": the answer is then their sorted
// set, "a|b" (Split gives them back), the same for every order.
func (res Resolver) FromRequest(r *http.Request) (string, error) {
	if !res.MultiTenancy {
		return Anonymous, nil
	}
	id := r.Header.Get(Header)
	if res.Federation && strings.Contains(id, FederationSeparator) {
		ids := strings.Split(id, FederationSeparator)
		for _, t := range ids {
			if err := Validate(t); err != nil {
				return "", err
			}
		}
		slices.Sort(ids)
		return strings.Join(slices.Compact(ids), FederationSeparator), nil
	}
	if err := Validate(id); err != nil {
		return "", err
	}
	return id, nil
}

// Split returns the tenants of id: several for a federated read's "a|b",
// else id alone.
func Split(id string) []string { return strings.Split(id, FederationSeparator) }

// IsFederated reports whether id names several tenants.
func IsFederated(id string) bool { return strings.Contains(id, FederationSeparator) }
