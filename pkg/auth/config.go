package auth

import (
	"errors"
	"flag"
	"fmt"
	"time"
)

// Types of authentication (-auth.type).
const (
	// TypeHeader trusts X-Scope-OrgID: weft runs behind a gateway that
	// authenticates.
	TypeHeader = "header"
	// TypeTokens checks every request against the tokens file.
	TypeTokens = "tokens"
)

// Config configures authentication.
type Config struct {
	Type         string        `yaml:"type"`
	TokensFile   string        `yaml:"tokens_file"`
	ReloadPeriod time.Duration `yaml:"tokens_file_reload_period"`
	CacheTTL     time.Duration `yaml:"cache_ttl"`
	CacheSize    int           `yaml:"cache_size"`
	FailureDelay time.Duration `yaml:"failure_delay"`
}

// RegisterFlags registers the flags of authentication with their defaults.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.Type, "auth.type", TypeHeader, "How requests are authenticated: header (trust X-Scope-OrgID, as behind a gateway) or tokens (bearer tokens and basic-auth users of -auth.tokens-file, each with its tenants and scopes).")
	f.StringVar(&c.TokensFile, "auth.tokens-file", "", "YAML file of the credentials, their tenants and scopes (-auth.type=tokens); reloaded without a restart. See docs/auth.md.")
	f.DurationVar(&c.ReloadPeriod, "auth.tokens-file-reload-period", 10*time.Second, "How often the tokens file is checked for changes.")
	f.DurationVar(&c.CacheTTL, "auth.cache-ttl", time.Minute, "How long a verified credential is remembered, so that a burst of requests checks its bcrypt password once. 0 disables the cache.")
	f.IntVar(&c.CacheSize, "auth.cache-size", 10000, "Most verified credentials remembered at once.")
	f.DurationVar(&c.FailureDelay, "auth.failure-delay", 100*time.Millisecond, "Delay of the first failed login from an address; each further failure within a minute doubles it, up to 5s. Valid credentials are never delayed.")
}

// Validate reports settings that cannot work.
func (c *Config) Validate() error {
	switch c.Type {
	case TypeHeader:
	case TypeTokens:
		if c.TokensFile == "" {
			return errors.New("auth.type=tokens needs auth.tokens-file")
		}
	default:
		return fmt.Errorf("auth.type must be %s or %s, not %q", TypeHeader, TypeTokens, c.Type)
	}
	if c.ReloadPeriod <= 0 {
		return errors.New("auth.tokens-file-reload-period must be positive")
	}
	if c.CacheSize < 0 || c.CacheTTL < 0 || c.FailureDelay < 0 {
		return errors.New("auth.cache-size, auth.cache-ttl and auth.failure-delay must not be negative")
	}
	return nil
}
