package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/softgrad/softgrad/kernels"
)

// TestExecutable runs the softgrad program as a separate process (this
// test binary, which TestMain turns into softgrad) and checks the exit
// statuses main gives the shell: 0, 2 for bad data and bad flags, 2 for a
// bad SOFTGRAD_IMPL, and one line on stderr for each error.
func TestExecutable(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Skip("cannot find the test binary:", err)
	}
	// Under an emulator (go test -exec qemu-aarch64-static) the binary cannot
	// run itself: SOFTGRAD_TEST_EXEC names the emulator to run it with.
	prefix := []string{exe}
	if wrapper := os.Getenv("SOFTGRAD_TEST_EXEC"); wrapper != "" {
		prefix = append(strings.Fields(wrapper), exe)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	must(t, os.WriteFile(bad, []byte("0,1,2\n1,2\n"), 0o644))
	trunc := filepath.Join(dir, "images")
	images, labels := mnistLike(10)
	must(t, os.WriteFile(trunc, images[:100], 0o644))
	lab := filepath.Join(dir, "labels")
	must(t, os.WriteFile(lab, labels, 0o644))

	for _, c := range []struct {
		args   []string
		env    string
		status int
		stderr string // a prefix of the one line expected; "" for none
	}{
		{[]string{"train", "-epochs", "1", "-samples", "2000"}, "", 0, ""},
		{[]string{"check", "-impl", "generic", "-stride", "9973"}, "", 0, ""},
		{[]string{"help"}, "", 0, ""},
		{[]string{"train", "-csv", bad}, "", 2, "softgrad: " + bad + ":2: 2 fields, but line 1 has 3"},
		{[]string{"train", "-idx", trunc + "," + lab}, "", 2, "softgrad: " + trunc + ": offset 100: truncated"},
		{[]string{"train", "-impl", "sse9"}, "", 2, "softgrad: -impl sse9: unknown implementation"},
		{[]string{"bench", "-bogus"}, "", 2, "flag provided but not defined: -bogus"},
		{[]string{"train", "-epochs", "1"}, kernels.EnvVar + "=sse9", 2, "softgrad: SOFTGRAD_IMPL=\"sse9\" cannot be used"},
	} {
		cmd := exec.Command(prefix[0], append(prefix[1:], c.args...)...)
		cmd.Env = append(os.Environ(), "SOFTGRAD_TEST_MAIN=1")
		if c.env != "" {
			cmd.Env = append(cmd.Env, c.env)
		}
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if errors.Is(err, syscall.ENOEXEC) {
			t.Skipf("cannot run the test binary again (%v): set SOFTGRAD_TEST_EXEC to the emulator", err)
		}
		status := 0
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			status = ee.ExitCode()
		case err != nil:
			t.Fatalf("%q: %v", c.args, err)
		}
		if status != c.status {
			t.Errorf("%q: exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", c.args, status, c.status, stdout.String(), stderr.String())
		}
		switch {
		case c.stderr == "" && stderr.Len() > 0:
			t.Errorf("%q: stderr %q, want nothing", c.args, stderr.String())
		case c.stderr != "" && !strings.HasPrefix(stderr.String(), c.stderr):
			t.Errorf("%q: stderr %q, want it to start with %q", c.args, stderr.String(), c.stderr)
		}
		noTrace(t, stderr.String())
	}
}
