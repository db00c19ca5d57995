package main

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// objdump is the disassembler of Debian's binutils-aarch64-linux-gnu.
const objdump = "aarch64-linux-gnu-objdump"

// TestARM64Encodings checks every instruction arm64.go emits as a WORD: it
// builds the kernels test binary for linux/arm64 from the committed
// softmax_arm64.s, disassembles each NEON routine with objdump, and
// requires the routine's WORDs to appear in it in order, each disassembled
// exactly as its comment says. Without objdump it fails in CI (CI=true)
// and is skipped elsewhere.
func TestARM64Encodings(t *testing.T) {
	if _, err := exec.LookPath(objdump); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (Debian: apt-get install binutils-aarch64-linux-gnu): %v", objdump, err)
		}
		t.Skipf("%s is missing (Debian: apt-get install binutils-aarch64-linux-gnu)", objdump)
	}
	routines := readWords(t, "../softmax_arm64.s")
	bin := filepath.Join(t.TempDir(), "kernels.test")
	build := exec.Command("go", "test", "-c", "-o", bin, ".")
	build.Dir = ".."
	build.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("GOARCH=arm64 go test -c ./kernels: %v\n%s", err, out)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	syms, err := f.Symbols()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, r := range routines {
		// The assembly itself is the ABI0 symbol; a plain one of the same
		// name may be the compiler's ABIInternal wrapper.
		var sym *elf.Symbol
		for i, s := range syms {
			if strings.HasSuffix(s.Name, "/kernels."+r.name+".abi0") {
				sym = &syms[i]
			}
		}
		if sym == nil {
			t.Errorf("%s: not in the binary (is it called from the tests?)", r.name)
			continue
		}
		insts := disassemble(t, bin, sym.Value, sym.Value+sym.Size)
		// The routine's WORDs, in order, among its instructions.
		i := 0
		for _, in := range insts {
			if i < len(r.words) && in.word == r.words[i].word {
				if in.text != r.words[i].text {
					t.Errorf("%s: WORD $0x%08x is %q, its comment says %q", r.name, in.word, in.text, r.words[i].text)
				}
				i++
				checked++
			}
		}
		if i < len(r.words) {
			t.Errorf("%s: WORD $0x%08x // %s not found in order in the disassembly (%d of %d found)",
				r.name, r.words[i].word, r.words[i].text, i, len(r.words))
		}
	}
	if len(routines) == 0 || checked == 0 {
		t.Fatal("no WORD checked")
	}
	// Every entry of the encodings table is checked through some WORD.
	for op := range encodings {
		mnemonic := strings.Split(op, ".")[0] + " "
		found := false
		for _, r := range routines {
			for _, w := range r.words {
				found = found || strings.HasPrefix(w.text, mnemonic)
			}
		}
		if !found {
			t.Errorf("encodings[%q] is used by no routine, so objdump never checks it", op)
		}
	}
	t.Logf("%d routines, %d WORDs: objdump agrees with every comment", len(routines), checked)
}

type wordInst struct {
	word uint32
	text string // as objdump prints it, blanks collapsed
}

type routineWords struct {
	name  string
	words []wordInst
}

// readWords returns the WORDs of each TEXT symbol of the assembly file.
func readWords(t *testing.T, path string) []routineWords {
	src, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	text := regexp.MustCompile(`^TEXT ·(\w+)\(SB\)`)
	word := regexp.MustCompile(`^\s+WORD \$0x([0-9a-f]{8}) // (.+)$`)
	var out []routineWords
	sc := bufio.NewScanner(src)
	for sc.Scan() {
		if m := text.FindStringSubmatch(sc.Text()); m != nil {
			out = append(out, routineWords{name: m[1]})
			continue
		}
		m := word.FindStringSubmatch(sc.Text())
		if m == nil {
			if strings.Contains(sc.Text(), "WORD") {
				t.Fatalf("%s: a WORD without its instruction in a comment: %q", path, sc.Text())
			}
			continue
		}
		if len(out) == 0 {
			t.Fatalf("%s: WORD outside a routine", path)
		}
		w, _ := strconv.ParseUint(m[1], 16, 32)
		r := &out[len(out)-1]
		r.words = append(r.words, wordInst{uint32(w), strings.Join(strings.Fields(m[2]), " ")})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// disassemble returns the instructions objdump finds in [start, stop).
func disassemble(t *testing.T, bin string, start, stop uint64) []wordInst {
	out, err := exec.Command(objdump, "-d",
		fmt.Sprintf("--start-address=0x%x", start), fmt.Sprintf("--stop-address=0x%x", stop), bin).Output()
	if err != nil {
		t.Fatalf("%s: %v", objdump, err)
	}
	// "  13f170:	4ea0d4a5 	fsub	v5.4s, v5.4s, v0.4s"
	line := regexp.MustCompile(`^\s*[0-9a-f]+:\s+([0-9a-f]{8})\s+(.+)$`)
	var insts []wordInst
	for _, l := range strings.Split(string(out), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		w, _ := strconv.ParseUint(m[1], 16, 32)
		insts = append(insts, wordInst{uint32(w), strings.Join(strings.Fields(m[2]), " ")})
	}
	if len(insts) == 0 {
		t.Fatalf("%s found no instructions in [%#x, %#x)", objdump, start, stop)
	}
	return insts
}
