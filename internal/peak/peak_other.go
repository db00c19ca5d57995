//go:build purego || !amd64

package peak

// probes is empty where no assembly is compiled.
var probes []probe
