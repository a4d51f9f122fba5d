package auth

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/weft-io/weft/pkg/tenant"
)

// Scope is what a credential may do.
type Scope string

// The scopes of a credential.
const (
	// ScopeWrite covers pushes (remote write, OTLP).
	ScopeWrite Scope = "write"
	// ScopeRead covers queries and notebooks.
	ScopeRead Scope = "read"
	// ScopeRules covers rule groups, Alertmanager configurations and
	// the Alertmanager API (alerts, silences).
	ScopeRules Scope = "rules"
	// ScopeAdmin covers the admin endpoints: ring forget, tenant and
	// series deletion, the configuration views, profiles.
	ScopeAdmin Scope = "admin"
)

// AnyTenant, as a credential's only tenant, allows every tenant; the
// request must then name one (an operator's admin credential).
const AnyTenant = "*"

// File is the tokens file.
type File struct {
	Credentials []Credential `yaml:"credentials"`
}

// Credential is one entry of the tokens file: a bearer token (by its
// SHA-256) or a basic-auth user (by its bcrypt password hash), the tenants
// it may act for and its scopes. No secret is stored in clear.
type Credential struct {
	// Name identifies the credential in logs; the basic user by default.
	Name           string   `yaml:"name,omitempty"`
	TokenSHA256    string   `yaml:"token_sha256,omitempty"`
	BasicUser      string   `yaml:"basic_user,omitempty"`
	PasswordBcrypt string   `yaml:"password_bcrypt,omitempty"`
	Tenants        []string `yaml:"tenants"`
	Scopes         []Scope  `yaml:"scopes"`

	digest []byte // decoded TokenSHA256
}

// Has reports whether c holds scope s.
func (c *Credential) Has(s Scope) bool { return slices.Contains(c.Scopes, s) }

// HoldsTenant reports whether c may act for tenant id.
func (c *Credential) HoldsTenant(id string) bool {
	return slices.Contains(c.Tenants, id) || slices.Contains(c.Tenants, AnyTenant)
}

// String names c in logs, never with its secret.
func (c *Credential) String() string {
	switch {
	case c.Name != "":
		return c.Name
	case c.BasicUser != "":
		return "user " + c.BasicUser
	default:
		return "token " + c.TokenSHA256[:8] + "..."
	}
}

// table is a loaded tokens file, indexed.
type table struct {
	byDigest map[string]*Credential // by the raw SHA-256 of the token
	byUser   map[string]*Credential
}

// ParseFile parses and validates a tokens file whole: unknown keys, a
// malformed hash, an unknown scope, an invalid tenant or a duplicate
// credential are errors, each naming the entry. An empty file is an error
// too: it is what a poll reads while the file is rewritten in place
// (truncated, then written), and taking it would let no client in.
func ParseFile(data []byte) (*File, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("the file is empty (being written?); to let no client in, write credentials: []")
	}
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && err.Error() != "EOF" {
		return nil, err
	}
	var errs []error
	seen := map[string]int{}
	for i := range f.Credentials {
		c := &f.Credentials[i]
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("credentials[%d]: %s", i, fmt.Sprintf(format, args...)))
		}
		switch {
		case c.TokenSHA256 != "" && (c.BasicUser != "" || c.PasswordBcrypt != ""):
			bad("has both token_sha256 and basic_user/password_bcrypt: give one")
		case c.TokenSHA256 != "":
			d, err := hex.DecodeString(c.TokenSHA256)
			if err != nil || len(d) != 32 {
				bad("token_sha256 must be 64 hex digits (the SHA-256 of the token, e.g. from sha256sum)")
			}
			c.digest = d
			c.TokenSHA256 = strings.ToLower(c.TokenSHA256)
			key := "token " + c.TokenSHA256
			if j, ok := seen[key]; ok {
				bad("same token as credentials[%d]", j)
			}
			seen[key] = i
		case c.BasicUser != "":
			if c.PasswordBcrypt == "" {
				bad("basic_user %q has no password_bcrypt", c.BasicUser)
			} else if _, err := bcrypt.Cost([]byte(c.PasswordBcrypt)); err != nil {
				bad("password_bcrypt of %q is not a bcrypt hash (htpasswd -nbB user password makes one): %v", c.BasicUser, err)
			}
			if strings.Contains(c.BasicUser, ":") {
				bad("basic_user %q contains ':'", c.BasicUser)
			}
			key := "user " + c.BasicUser
			if j, ok := seen[key]; ok {
				bad("same basic_user as credentials[%d]", j)
			}
			seen[key] = i
		default:
			bad("has neither token_sha256 nor basic_user")
		}
		if len(c.Tenants) == 0 {
			bad("has no tenants")
		}
		for _, t := range c.Tenants {
			if t == AnyTenant {
				continue
			}
			if err := tenant.Validate(t); err != nil {
				bad("tenant %q: %v", t, err)
			}
		}
		if len(c.Scopes) == 0 {
			bad("has no scopes")
		}
		for _, s := range c.Scopes {
			switch s {
			case ScopeWrite, ScopeRead, ScopeRules, ScopeAdmin:
			default:
				bad("unknown scope %q (write, read, rules, admin)", s)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &f, nil
}

func newTable(f *File) *table {
	t := &table{byDigest: map[string]*Credential{}, byUser: map[string]*Credential{}}
	for i := range f.Credentials {
		c := &f.Credentials[i]
		if c.BasicUser != "" {
			t.byUser[c.BasicUser] = c
		} else {
			t.byDigest[string(c.digest)] = c
		}
	}
	return t
}
