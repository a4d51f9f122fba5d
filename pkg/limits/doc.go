// Package limits holds the per-tenant limits and the overrides that change
// them at run time. Defaults come from the config file and flags; per-tenant
// overrides come from the runtime file, reloaded without a restart and
// validated whole. Components read one getter per limit at the moment they
// enforce it.
//
// Imports: none.
package limits
