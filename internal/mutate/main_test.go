package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestMutationsApply: every mutation's text occurs exactly once in its
// file, so that the list follows the code (the planting itself takes
// minutes and runs by hand: go run ./internal/mutate).
func TestMutationsApply(t *testing.T) {
	if len(mutations) < 15 {
		t.Errorf("%d mutations, want at least 15", len(mutations))
	}
	seen := map[string]bool{}
	for _, m := range mutations {
		if seen[m.name] {
			t.Errorf("%s: name used twice", m.name)
		}
		seen[m.name] = true
		b, err := os.ReadFile(filepath.Join("..", "..", m.file))
		if err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(b, []byte(m.old)); n != 1 {
			t.Errorf("%s: %s holds its text %d times, want once", m.name, m.file, n)
		}
		if m.old == m.new {
			t.Errorf("%s: changes nothing", m.name)
		}
	}
}
