//go:build purego || !amd64

package peak

// asmProbes is empty where no assembly is compiled.
var asmProbes []probe
