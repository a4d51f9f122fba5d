package app

import "runtime"

// Build information, set with -ldflags "-X github.com/weft-io/weft/pkg/app.Version=...".
var (
	Version  = "0.1.0-dev"
	Revision = "unknown"
	Branch   = "main"
)

func goVersion() string { return runtime.Version() }
