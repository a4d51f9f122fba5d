package app

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// migrateDataDir moves what an earlier weft (up to v0.7) kept directly
// under -data.dir into the <data.dir>/<role>/ layout of applyDefaults, so
// that an upgrade finds its WAL, blocks not yet shipped and ring tokens:
//
//	tsdb/                       → ingester/tsdb/
//	store-gateway-ring-tokens   → store-gateway/ring-tokens
//	store-gateway/<tenant>/     → store-gateway/blocks/<tenant>/ (a cache)
//	compactor-ring-tokens       → compactor/ring-tokens
//	compactor/<anything else>   → removed (the compactor's old scratch)
//
// Renames within one directory tree are atomic, so a crash half-way leaves
// each piece either in the old place or the new one, and the next start
// goes on. Only the default locations move: a path set by a flag is the
// operator's. It may be removed in the release after next.
func migrateDataDir(cfg *Config, logger *slog.Logger) error {
	d := cfg.DataDir
	r := cfg.Ring.Ring
	moves := []struct{ from, to, newDefault, current string }{
		{filepath.Join(d, "tsdb"), cfg.Ingester.Dir, "", ""},
		{filepath.Join(d, "store-gateway-ring-tokens"), filepath.Join(d, RoleStoreGateway, "ring-tokens"), filepath.Join(d, RoleStoreGateway, "ring-tokens"), r.StoreGateway.TokensFilePath},
		{filepath.Join(d, "compactor-ring-tokens"), filepath.Join(d, RoleCompactor, "ring-tokens"), filepath.Join(d, RoleCompactor, "ring-tokens"), r.Compactor.TokensFilePath},
	}
	for _, m := range moves {
		if m.newDefault != m.current {
			continue // set by the operator: not ours to move
		}
		if err := moveOld(m.from, m.to, logger); err != nil {
			return err
		}
	}
	// The store-gateway's index headers are a cache: moved under blocks/,
	// its start cleans them like any of its own.
	sgDir := filepath.Join(d, RoleStoreGateway)
	if cfg.StoreGateway.Dir == filepath.Join(sgDir, "blocks") {
		entries, err := os.ReadDir(sgDir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cannot list %s: %w", sgDir, err)
		}
		for _, e := range entries {
			if !e.IsDir() || e.Name() == "blocks" {
				continue
			}
			if err := moveOld(filepath.Join(sgDir, e.Name()), filepath.Join(sgDir, "blocks", e.Name()), logger); err != nil {
				return err
			}
		}
	}
	// The compactor's old scratch directory was <data.dir>/compactor
	// itself; everything in it but the new layout's is scratch.
	compDir := filepath.Join(d, RoleCompactor)
	if cfg.Compactor.DataDir == filepath.Join(compDir, "work") {
		entries, err := os.ReadDir(compDir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cannot list %s: %w", compDir, err)
		}
		for _, e := range entries {
			if e.Name() == "work" || e.Name() == "ring-tokens" {
				continue
			}
			if err := os.RemoveAll(filepath.Join(compDir, e.Name())); err != nil {
				return fmt.Errorf("cannot remove the compactor's old scratch: %w", err)
			}
		}
	}
	return nil
}

// moveOld renames from to to when from exists. Both existing is an error
// for the operator to settle: merging two TSDBs is not a rename.
func moveOld(from, to string, logger *slog.Logger) error {
	if _, err := os.Lstat(from); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("cannot read %s: %w", from, err)
	}
	if _, err := os.Lstat(to); err == nil {
		return fmt.Errorf("cannot move %s to %s, where this version keeps it: both exist; keep one of them", from, to)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return fmt.Errorf("cannot create %s: %w", filepath.Dir(to), err)
	}
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("cannot move %s to %s: %w", from, to, err)
	}
	logger.Info("moved to the data directory layout of this version", "from", from, "to", to)
	return nil
}
