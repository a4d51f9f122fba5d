// Package app wires weft: the root configuration, the role table, the start
// and stop order, the HTTP mux and the operational endpoints (/ready,
// /config, /runtime_config, /services, /metrics). It is the only package
// that imports every component.
package app
