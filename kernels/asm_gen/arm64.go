package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/types"
	"math"
	"os"
	"strings"
)

// The arm64 half of the generator. avo emits amd64 only, and Go's arm64
// assembler has NEON's loads and stores, its integer and bitwise
// instructions and VFMLA/VFMLS, but none of its other floating-point
// arithmetic (FADD, FMUL, FMAX, FCMGT, FCVTL, …). So this file is a small
// emitter of its own: registers allocated the way avo's virtual registers
// are (a routine asks for one and gets a free one), native Go mnemonics
// where Go has them, and `WORD $0x…` with the instruction in a trailing
// comment where it has not. The comment is spelled as
// aarch64-linux-gnu-objdump prints the instruction, and
// TestARM64Encodings disassembles the built object to check every one.
//
// Every helper takes its operands in Go's order, destination last, as avo's
// do and as Go assembly reads; the comment of a WORD shows the
// architecture's order, destination first.

// encodings are the instructions the routines use that Go's assembler
// lacks: each one's encoding with every register field 0, for the one
// arrangement the routines use. A register number goes to Rd (bits 0–4),
// Rn (5–9) and Rm (16–20); FMLA by element takes its lane in H:L (bits 11
// and 21). Arm Architecture Reference Manual, A64 "Advanced SIMD".
var encodings = map[string]uint32{
	"fadd.4s":   0x4E20D400, // fadd  Vd.4S, Vn.4S, Vm.4S
	"fsub.4s":   0x4EA0D400, // fsub  Vd.4S, Vn.4S, Vm.4S
	"fmul.4s":   0x6E20DC00, // fmul  Vd.4S, Vn.4S, Vm.4S
	"fdiv.4s":   0x6E20FC00, // fdiv  Vd.4S, Vn.4S, Vm.4S
	"fmax.4s":   0x4E20F400, // fmax  Vd.4S, Vn.4S, Vm.4S (NaN if either is NaN)
	"fmin.4s":   0x4EA0F400, // fmin  Vd.4S, Vn.4S, Vm.4S (NaN if either is NaN)
	"fcmgt.4s":  0x6EA0E400, // fcmgt Vd.4S, Vn.4S, Vm.4S: all ones where Vn > Vm (false for NaN)
	"fneg.4s":   0x6EA0F800, // fneg  Vd.4S, Vn.4S
	"fmla.s":    0x4F801000, // fmla  Vd.4S, Vn.4S, Vm.S[i]
	"bic.16b":   0x4E601C00, // bic   Vd.16B, Vn.16B, Vm.16B: Vn &^ Vm
	"fadd.2d":   0x4E60D400, // fadd  Vd.2D, Vn.2D, Vm.2D
	"fcvtl.2d":  0x0E617800, // fcvtl  Vd.2D, Vn.2S: the low two lanes widened
	"fcvtl2.2d": 0x4E617800, // fcvtl2 Vd.2D, Vn.4S: the high two lanes widened
	"faddp.d":   0x7E70D800, // faddp Dd, Vn.2D: lane 0 + lane 1
	"fmaxv.s":   0x6E30F800, // fmaxv Sd, Vn.4S: the largest lane (NaN if any is NaN)
}

// vreg is a vector register, V0 … V31; as a float register it is F0 … F31.
type vreg uint8

// greg is a general-purpose register, R0 … R25 (R18 excepted).
type greg uint8

func (r greg) String() string { return fmt.Sprintf("R%d", r) }

// Go's spellings.
func (v vreg) s4() string        { return fmt.Sprintf("V%d.S4", v) }
func (v vreg) b16() string       { return fmt.Sprintf("V%d.B16", v) }
func (v vreg) lane(i int) string { return fmt.Sprintf("V%d.S[%d]", v, i) }
func (v vreg) f() string         { return fmt.Sprintf("F%d", v) }

// objdump's spellings, for the comments of WORDs.
func (v vreg) arr(a string) string { return fmt.Sprintf("v%d.%s", v, a) }

// imm is an immediate operand.
type imm int

func (i imm) String() string { return fmt.Sprintf("$%d", int(i)) }

// gpAllocatable are the general registers a routine may use: R18 is the
// platform register, R26 the closure context, R27 the assembler's scratch,
// R28 g, R29 the frame pointer and R30 the link register.
const gpReserved = 1<<18 | 1<<26 | 1<<27 | 1<<28 | 1<<29 | 1<<30 | 1<<31

// neon emits the arm64 file: the routine being written (lines), its
// register allocation, and the routines done so far with their Go
// declarations.
type neon struct {
	lines        []string // the current routine
	vUsed, gUsed uint32   // registers in use, a bit per register number
	labels       int
	args         map[string]argSlot
	routines     []string // the text of each routine done
	stubs        []string // the Go declaration of each, with its doc
	consts       []string // Go constants the stubs declare for the dispatch
	data         []string // DATA and GLOBL directives
	dataDone     map[string]bool
}

func newNeon() *neon { return &neon{dataDone: map[string]bool{}} }

// vec allocates a vector register.
func (n *neon) vec() vreg { return n.vecs(1)[0] }

// vecs allocates k consecutive vector registers, as the multi-register
// loads and stores (VLD1, VST1) need.
func (n *neon) vecs(k int) []vreg {
	for first := 0; first+k <= 32; first++ {
		mask := uint32(1<<k-1) << first
		if n.vUsed&mask == 0 {
			n.vUsed |= mask
			vs := make([]vreg, k)
			for i := range vs {
				vs[i] = vreg(first + i)
			}
			return vs
		}
	}
	panic(fmt.Sprintf("out of vector registers: %d consecutive wanted, in use %032b", k, n.vUsed))
}

// gp allocates a general-purpose register.
func (n *neon) gp() greg {
	for r := range 32 {
		if (n.gUsed|gpReserved)&(1<<r) == 0 {
			n.gUsed |= 1 << r
			return greg(r)
		}
	}
	panic("out of general-purpose registers")
}

// release frees vector registers.
func (n *neon) release(vs ...vreg) {
	for _, v := range vs {
		n.vUsed &^= 1 << v
	}
}

// releaseGP frees general-purpose registers.
func (n *neon) releaseGP(rs ...greg) {
	for _, r := range rs {
		n.gUsed &^= 1 << r
	}
}

// scope emits f and then frees every register f allocated.
func (n *neon) scope(f func()) {
	v, g := n.vUsed, n.gUsed
	f()
	n.vUsed, n.gUsed = v, g
}

// ins emits an instruction in Go's syntax.
func (n *neon) ins(format string, args ...any) {
	n.lines = append(n.lines, "\t"+fmt.Sprintf(format, args...))
}

// word emits an instruction Go's assembler lacks: its encoding, with the
// instruction as objdump prints it in the comment.
func (n *neon) word(op string, fields uint32, asm string) {
	base, ok := encodings[op]
	if !ok {
		panic("no encoding for " + op)
	}
	n.ins("WORD $0x%08x // %s", base|fields, asm)
}

// rrr returns the register fields of a three-register instruction.
func rrr(m, nn, d vreg) uint32 { return uint32(m)<<16 | uint32(nn)<<5 | uint32(d) }

// Comment emits a comment line.
func (n *neon) Comment(format string, args ...any) {
	n.lines = append(n.lines, "\t// "+fmt.Sprintf(format, args...))
}

// label returns a label name unique within the routine.
func (n *neon) label(name string) string {
	n.labels++
	return fmt.Sprintf("%s_%d", name, n.labels)
}

// Label places a label.
func (n *neon) Label(l string) { n.lines = append(n.lines, l+":") }

// counted emits f, a hot loop, under a comment with the number of
// instructions it runs per iteration: "what: N instructions per per".
func (n *neon) counted(what, per string, f func()) {
	at := len(n.lines)
	f()
	count := 0
	for _, l := range n.lines[at:] {
		if strings.HasPrefix(l, "\t") && !strings.HasPrefix(l, "\t//") {
			count++
		}
	}
	c := fmt.Sprintf("\t// hot loop, %s: %d instructions per %s", what, count, per)
	n.lines = append(n.lines[:at], append([]string{c}, n.lines[at:]...)...)
}

// General-purpose instructions (Go's).

func (n *neon) MOVD(src, dst any)               { n.ins("MOVD %v, %v", src, dst) }
func (n *neon) ADD(a, b, dst any)               { n.ins("ADD %v, %v, %v", a, b, dst) }
func (n *neon) ADDS(a, b, dst any)              { n.ins("ADDS %v, %v, %v", a, b, dst) }
func (n *neon) SUB(a, b, dst any)               { n.ins("SUB %v, %v, %v", a, b, dst) }
func (n *neon) SUBS(a, b, dst any)              { n.ins("SUBS %v, %v, %v", a, b, dst) }
func (n *neon) LSL(a, b, dst any)               { n.ins("LSL %v, %v, %v", a, b, dst) }
func (n *neon) CMP(a, b any)                    { n.ins("CMP %v, %v", a, b) }
func (n *neon) CSEL(cond string, a, b, dst any) { n.ins("CSEL %s, %v, %v, %v", cond, a, b, dst) }
func (n *neon) B(cond, l string)                { n.ins("B%s %s", cond, l) }
func (n *neon) CBZ(r greg, l string)            { n.ins("CBZ %v, %s", r, l) }
func (n *neon) CBNZ(r greg, l string)           { n.ins("CBNZ %v, %s", r, l) }
func (n *neon) RET()                            { n.ins("RET") }

// shifted is the register operand r<<s.
func shifted(r greg, s int) string { return fmt.Sprintf("%v<<%d", r, s) }

// Vector loads and stores (Go's). post is the post-increment in bytes; 0
// leaves the pointer unchanged.

func list(vs []vreg) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = v.s4()
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func postMem(p greg, post int) (string, string) {
	if post == 0 {
		return "", fmt.Sprintf("(%v)", p)
	}
	return ".P", fmt.Sprintf("%d(%v)", post, p)
}

// VLD1 loads the consecutive registers vs from p.
func (n *neon) VLD1(p greg, post int, vs ...vreg) {
	sfx, m := postMem(p, post)
	n.ins("VLD1%s %s, %s", sfx, m, list(vs))
}

// VLD1step loads vs from p and then adds step to p.
func (n *neon) VLD1step(p, step greg, vs ...vreg) {
	n.ins("VLD1.P (%v)(%v), %s", p, step, list(vs))
}

// VLD1lane loads the float32 at p into lane i of v, and advances p by 4.
func (n *neon) VLD1lane(p greg, v vreg, i int) { n.ins("VLD1.P 4(%v), %s", p, v.lane(i)) }

// VLD1R loads the float32 at p into every lane of v.
func (n *neon) VLD1R(p greg, post int, v vreg) {
	sfx, m := postMem(p, post)
	n.ins("VLD1R%s %s, [%s]", sfx, m, v.s4())
}

// VLD1Rstep loads the float32 at p into every lane of v and adds step to p.
func (n *neon) VLD1Rstep(p, step greg, v vreg) {
	n.ins("VLD1R.P (%v)(%v), [%s]", p, step, v.s4())
}

// VLDn loads len(vs) ≤ 4 consecutive registers from p, de-interleaved
// (LD2, LD3, LD4; LD1 for one): element i of vs[k] is the float32 at
// p + 4·(len(vs)·i + k).
func (n *neon) VLDn(p greg, post int, vs ...vreg) {
	sfx, m := postMem(p, post)
	n.ins("VLD%d%s %s, %s", len(vs), sfx, m, list(vs))
}

// VSTn stores len(vs) ≤ 4 consecutive registers to p, interleaved as VLDn
// loads them.
func (n *neon) VSTn(p greg, post int, vs ...vreg) {
	sfx, m := postMem(p, post)
	n.ins("VST%d%s %s, %s", len(vs), sfx, list(vs), m)
}

// LDRQ loads v from p + off; p is unchanged.
func (n *neon) LDRQ(p greg, off int, v vreg) { n.ins("FMOVQ %d(%v), %s", off, p, v.f()) }

// STRQ stores v to p + off; p is unchanged.
func (n *neon) STRQ(v vreg, p greg, off int) { n.ins("FMOVQ %s, %d(%v)", v.f(), off, p) }

// VST1 stores the consecutive registers vs to p.
func (n *neon) VST1(p greg, post int, vs ...vreg) {
	sfx, m := postMem(p, post)
	n.ins("VST1%s %s, %s", sfx, list(vs), m)
}

// VST1lane stores lane i of v to p and advances p by 4.
func (n *neon) VST1lane(v vreg, i int, p greg) { n.ins("VST1.P %s, 4(%v)", v.lane(i), p) }

// VST1D stores the float64 in lane 0 of v to p and advances p by 8.
func (n *neon) VST1D(v vreg, p greg) { n.ins("VST1.P V%d.D[0], 8(%v)", v, p) }

// Vector instructions Go has.

func (n *neon) VMOV(src, dst vreg)             { n.ins("VMOV %s, %s", src.b16(), dst.b16()) }
func (n *neon) VDUP(src vreg, i int, dst vreg) { n.ins("VDUP %s, %s", src.lane(i), dst.s4()) }
func (n *neon) VSHL(s int, src, dst vreg)      { n.ins("VSHL $%d, %s, %s", s, src.s4(), dst.s4()) }
func (n *neon) VEOR(m, nn, dst vreg)           { n.ins("VEOR %s, %s, %s", m.b16(), nn.b16(), dst.b16()) }
func (n *neon) VAND(m, nn, dst vreg)           { n.ins("VAND %s, %s, %s", m.b16(), nn.b16(), dst.b16()) }

// VFMLA: dst += nn·m, one rounding.
func (n *neon) VFMLA(m, nn, dst vreg) { n.ins("VFMLA %s, %s, %s", m.s4(), nn.s4(), dst.s4()) }

// VFMLS: dst −= nn·m, one rounding.
func (n *neon) VFMLS(m, nn, dst vreg) { n.ins("VFMLS %s, %s, %s", m.s4(), nn.s4(), dst.s4()) }

// zero clears v.
func (n *neon) zero(v vreg) { n.VEOR(v, v, v) }

// Scalar floating point (Go's).

func (n *neon) FMOVS(src string, dst vreg) { n.ins("FMOVS %s, %s", src, dst.f()) }

// FCVTDS rounds the float64 in src to a float32 in dst.
func (n *neon) FCVTDS(src, dst vreg) { n.ins("FCVTDS %s, %s", src.f(), dst.f()) }

// The instructions Go lacks, as WORDs. Go's operand order, destination last.

func (n *neon) three(op, mnemonic, a string, m, nn, d vreg) {
	n.word(op, rrr(m, nn, d), fmt.Sprintf("%s %s, %s, %s", mnemonic, d.arr(a), nn.arr(a), m.arr(a)))
}

// FADD: dst = nn + m.
func (n *neon) FADD(m, nn, dst vreg) { n.three("fadd.4s", "fadd", "4s", m, nn, dst) }

// FSUB: dst = nn − m.
func (n *neon) FSUB(m, nn, dst vreg) { n.three("fsub.4s", "fsub", "4s", m, nn, dst) }

// FMUL: dst = nn·m.
func (n *neon) FMUL(m, nn, dst vreg) { n.three("fmul.4s", "fmul", "4s", m, nn, dst) }

// FDIV: dst = nn/m.
func (n *neon) FDIV(m, nn, dst vreg) { n.three("fdiv.4s", "fdiv", "4s", m, nn, dst) }

// VTRN1, VTRN2 (Go has them): the even (odd) lanes of nn and m
// interleaved, as 4 float32 or 2 float64 lanes.
func (n *neon) VTRN1(m, nn, dst vreg, d2 bool) { n.ins("VTRN1 %s", trnOperands(m, nn, dst, d2)) }
func (n *neon) VTRN2(m, nn, dst vreg, d2 bool) { n.ins("VTRN2 %s", trnOperands(m, nn, dst, d2)) }

func trnOperands(m, nn, dst vreg, d2 bool) string {
	if d2 {
		return fmt.Sprintf("V%d.D2, V%d.D2, V%d.D2", m, nn, dst)
	}
	return fmt.Sprintf("%s, %s, %s", m.s4(), nn.s4(), dst.s4())
}

// FMAX: dst = max(nn, m), NaN if either is NaN.
func (n *neon) FMAX(m, nn, dst vreg) { n.three("fmax.4s", "fmax", "4s", m, nn, dst) }

// FMIN: dst = min(nn, m), NaN if either is NaN.
func (n *neon) FMIN(m, nn, dst vreg) { n.three("fmin.4s", "fmin", "4s", m, nn, dst) }

// FCMGT: dst = all ones where nn > m (an ordered compare: false for NaN).
func (n *neon) FCMGT(m, nn, dst vreg) { n.three("fcmgt.4s", "fcmgt", "4s", m, nn, dst) }

// BIC: dst = nn &^ m.
func (n *neon) BIC(m, nn, dst vreg) { n.three("bic.16b", "bic", "16b", m, nn, dst) }

// FADD2D: dst = nn + m in float64 lanes.
func (n *neon) FADD2D(m, nn, dst vreg) { n.three("fadd.2d", "fadd", "2d", m, nn, dst) }

// FNEG: dst = −src.
func (n *neon) FNEG(src, dst vreg) {
	n.word("fneg.4s", rrr(0, src, dst), fmt.Sprintf("fneg %s, %s", dst.arr("4s"), src.arr("4s")))
}

// FMLAe: dst += nn·m[i], one rounding: m's lane i as the multiplier of
// every lane.
func (n *neon) FMLAe(m vreg, i int, nn, dst vreg) {
	if i < 0 || i > 3 {
		panic("FMLAe: lane out of range")
	}
	f := rrr(m, nn, dst) | uint32(i&1)<<21 | uint32(i>>1)<<11
	n.word("fmla.s", f, fmt.Sprintf("fmla %s, %s, v%d.s[%d]", dst.arr("4s"), nn.arr("4s"), m, i))
}

// FCVTL widens the low two float32 lanes of src to float64.
func (n *neon) FCVTL(src, dst vreg) {
	n.word("fcvtl.2d", rrr(0, src, dst), fmt.Sprintf("fcvtl %s, %s", dst.arr("2d"), src.arr("2s")))
}

// FCVTL2 widens the high two float32 lanes of src to float64.
func (n *neon) FCVTL2(src, dst vreg) {
	n.word("fcvtl2.2d", rrr(0, src, dst), fmt.Sprintf("fcvtl2 %s, %s", dst.arr("2d"), src.arr("4s")))
}

// FADDP adds the two float64 lanes of src into lane 0 of dst (a D register).
func (n *neon) FADDP(src, dst vreg) {
	n.word("faddp.d", rrr(0, src, dst), fmt.Sprintf("faddp d%d, %s", dst, src.arr("2d")))
}

// FMAXV puts the largest float32 lane of src (NaN if any is) in lane 0 of
// dst (an S register).
func (n *neon) FMAXV(src, dst vreg) {
	n.word("fmaxv.s", rrr(0, src, dst), fmt.Sprintf("fmaxv s%d, %s", dst, src.arr("4s")))
}

// Read-only data.

// float32s emits a table of float32 named name (unless it exists) and
// returns its symbol, name<>.
func (n *neon) float32s(name string, vals []float32, notes []string) string {
	if !n.dataDone[name] {
		n.dataDone[name] = true
		for i, v := range vals {
			d := fmt.Sprintf("DATA %s<>+%d(SB)/4, $0x%08x", name, 4*i, math.Float32bits(v))
			if notes[i] != "" {
				d += " // " + notes[i]
			}
			n.data = append(n.data, d)
		}
		n.data = append(n.data, fmt.Sprintf("GLOBL %s<>(SB), RODATA|NOPTR, $%d", name, 4*len(vals)), "")
	}
	return name + "<>"
}

// goConst declares the Go constant name = v, with its doc, in the stubs:
// a limit of a routine that the dispatch needs, stated once, here.
func (n *neon) goConst(name string, v int, doc string) {
	n.consts = append(n.consts, fmt.Sprintf("\t// %s\n\t%s = %d\n", doc, name, v))
}

// Routines and their arguments.

// argSlot is where an argument (or a component of a slice) is in the
// argument frame.
type argSlot struct {
	name string // as asmdecl wants it: x, or x_base, x_len, x_cap
	off  int
}

// text starts the routine name+"NEON" with the Go signature sig, whose
// twin in generic.go is twin; doc follows the first line of its Go doc.
func (n *neon) text(name, sig, twin string, doc ...string) {
	fn := name + "NEON"
	expr, err := parser.ParseExpr(sig)
	if err != nil {
		panic(err)
	}
	n.args = map[string]argSlot{}
	off := 0
	for _, field := range expr.(*ast.FuncType).Params.List {
		typ := types.ExprString(field.Type)
		for _, id := range field.Names {
			// Each argument at a multiple of its alignment: 8 bytes, 4 for
			// a float32, 1 for a bool.
			switch typ {
			case "float32":
				off = (off + 3) &^ 3
			case "bool":
			default:
				off = (off + 7) &^ 7
			}
			switch typ {
			case "[]float32", "[]float64":
				for i, c := range []string{"base", "len", "cap"} {
					s := id.Name + "_" + c
					n.args[s] = argSlot{s, off + 8*i}
				}
				off += 24
			case "int":
				n.args[id.Name] = argSlot{id.Name, off}
				off += 8
			case "float32":
				n.args[id.Name] = argSlot{id.Name, off}
				off += 4
			case "bool":
				n.args[id.Name] = argSlot{id.Name, off}
				off++
			default:
				panic("argument type " + typ)
			}
		}
	}
	n.vUsed, n.gUsed, n.labels = 0, 0, 0
	n.lines = []string{fmt.Sprintf("TEXT ·%s(SB), NOSPLIT, $0-%d", fn, off)}
	lines := append([]string{fmt.Sprintf("%s is %s with NEON (see generic.go).", fn, twin)}, doc...)
	var stub strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&stub, "// %s\n", l)
	}
	fmt.Fprintf(&stub, "//\n//go:noescape\nfunc %s%s\n", fn, strings.TrimPrefix(sig, "func"))
	n.stubs = append(n.stubs, stub.String())
}

// arg returns the frame operand of an argument: "m", or "x_base".
func (n *neon) arg(name string) string {
	s, ok := n.args[name]
	if !ok {
		panic("no argument " + name)
	}
	return fmt.Sprintf("%s+%d(FP)", s.name, s.off)
}

// load loads an integer or pointer argument into a new register.
func (n *neon) load(name string) greg {
	r := n.gp()
	n.MOVD(n.arg(name), r)
	return r
}

// loadBool loads a bool argument into a new register: 1 or 0.
func (n *neon) loadBool(name string) greg {
	r := n.gp()
	n.ins("MOVBU %s, %v", n.arg(name), r)
	return r
}

// loadF32 loads a float32 argument into every lane of a new register.
func (n *neon) loadF32(name string) vreg {
	v := n.vec()
	n.FMOVS(n.arg(name), v)
	n.VDUP(v, 0, v)
	return v
}

// ret ends the routine.
func (n *neon) ret() {
	n.RET()
	n.routines = append(n.routines, strings.Join(n.lines, "\n")+"\n")
	n.lines = nil
}

// generated returns the first line of both generated files, as avo
// writes it.
func generated() string {
	return fmt.Sprintf("// Code generated by command: go run main.go %s. DO NOT EDIT.", strings.Join(os.Args[1:], " "))
}

// write writes the assembly to asmPath and the Go declarations of the
// routines, in package pkg, to stubsPath.
func (n *neon) write(asmPath, stubsPath, pkg string) error {
	var s strings.Builder
	s.WriteString(generated() + "\n\n//go:build !purego\n\n#include \"textflag.h\"\n\n")
	for _, d := range n.data {
		s.WriteString(d + "\n")
	}
	s.WriteString(strings.Join(n.routines, "\n"))
	if err := os.WriteFile(asmPath, []byte(s.String()), 0o644); err != nil {
		return err
	}
	var g strings.Builder
	fmt.Fprintf(&g, "%s\n\n//go:build !purego\n\npackage %s\n\n", generated(), pkg)
	if len(n.consts) > 0 {
		g.WriteString("const (\n" + strings.Join(n.consts, "") + ")\n\n")
	}
	g.WriteString(strings.Join(n.stubs, "\n"))
	return os.WriteFile(stubsPath, []byte(g.String()), 0o644)
}
