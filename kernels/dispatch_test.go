package kernels

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

func TestAvailable(t *testing.T) {
	av := Available()
	if len(av) == 0 || av[len(av)-1] != genericImpl {
		t.Fatalf("Available() = %v, want generic last", av)
	}
	seen := map[string]bool{}
	for _, im := range av {
		if seen[im.Name()] {
			t.Errorf("implementation %q listed twice", im.Name())
		}
		seen[im.Name()] = true
		got, err := Lookup(im.Name())
		if err != nil || got != im {
			t.Errorf("Lookup(%q) = %v, %v; want the available implementation", im.Name(), got, err)
		}
	}
	t.Logf("GOARCH=%s purego=%v: available %v, default %v", runtime.GOARCH, purego, av, Default())
}

func TestLookupErrors(t *testing.T) {
	for _, c := range []struct{ name, want string }{
		{"", `unknown implementation "" (known: avx512, avx2, neon, generic)`},
		{"AVX2", `unknown implementation "AVX2"`},
	} {
		if _, err := Lookup(c.name); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Lookup(%q) error = %v, want it to contain %q", c.name, err, c.want)
		}
	}
	// Every known name either resolves or says why not.
	for _, a := range implArch {
		im, err := Lookup(a.name)
		switch {
		case err == nil && im.Name() != a.name:
			t.Errorf("Lookup(%q) returned %q", a.name, im.Name())
		case err != nil && !strings.HasPrefix(err.Error(), "kernels: implementation \""+a.name+"\""):
			t.Errorf("Lookup(%q) error %q does not name the implementation", a.name, err)
		case err != nil && a.arch != runtime.GOARCH && !strings.Contains(err.Error(), "is for "+a.arch):
			t.Errorf("Lookup(%q) error %q does not name its architecture", a.name, err)
		}
	}
}

func TestLookupMissingFeatures(t *testing.T) {
	fake := &Impl{name: "avx512", missing: func() []string { return []string{"AVX512F", "AVX512BW"} }}
	saved := all
	defer func() { all = saved }()
	all = append([]*Impl{fake}, saved...)
	_, err := Lookup("avx512")
	want := `kernels: implementation "avx512" needs CPU features this CPU lacks: AVX512F, AVX512BW`
	if err == nil || err.Error() != want {
		t.Errorf("Lookup error = %v, want %q", err, want)
	}
	for _, im := range Available() {
		if im == fake {
			t.Errorf("Available() lists an implementation with missing features")
		}
	}
}

// TestEnvOverride runs the test binary again with SOFTGRAD_IMPL set and checks
// what Default() became, or that the program stopped with a clear message.
func TestEnvOverride(t *testing.T) {
	if name, ok := os.LookupEnv("SOFTGRAD_TEST_PRINT_DEFAULT"); ok {
		// Child process: report the choice for the parent to check.
		if Default().Name() != name {
			t.Fatalf("SOFTGRAD_IMPL=%s gave Default() = %s", name, Default().Name())
		}
		return
	}
	run := func(value string) (string, error) {
		return runTestAgain(t, "TestEnvOverride", EnvVar+"="+value, "SOFTGRAD_TEST_PRINT_DEFAULT="+value)
	}
	for _, im := range Available() {
		if out, err := run(im.Name()); err != nil {
			t.Errorf("%s=%s: %v\n%s", EnvVar, im.Name(), err, out)
		}
	}
	for _, bad := range []string{"bogus", "neon", "avx512"} {
		if _, err := Lookup(bad); err == nil {
			continue // runs on this machine: not a bad value here
		}
		out, err := run(bad)
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 {
			t.Errorf("%s=%s: err %v, want exit status 2; output:\n%s", EnvVar, bad, err, out)
			continue
		}
		for _, want := range []string{EnvVar, `"` + bad + `"`, "valid choices on this machine:", "generic"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s=%s: message %q lacks %q", EnvVar, bad, out, want)
			}
		}
	}
}

// runTestAgain runs the test binary again, on the test named test alone,
// with env added to its environment, and returns what it printed. Under an
// emulator (go test -exec qemu-aarch64-static) the binary cannot run itself:
// SOFTGRAD_TEST_EXEC names the emulator to run it with. It skips t where the
// binary cannot be run.
func runTestAgain(t *testing.T, test string, env ...string) (string, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Skip("cannot find the test binary:", err)
	}
	args := []string{exe, "-test.run=^" + test + "$"}
	if wrapper := os.Getenv("SOFTGRAD_TEST_EXEC"); wrapper != "" {
		args = append(strings.Fields(wrapper), args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if errors.Is(err, syscall.ENOEXEC) {
		t.Skipf("cannot run the test binary again (%v): set SOFTGRAD_TEST_EXEC to the emulator", err)
	}
	return string(out), err
}
