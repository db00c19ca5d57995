// peers: times the kernels' peers in C on one thread -- oneDNN's softmax,
// log-softmax and softmax backward, OpenBLAS's sger and sgemm (GerBatch's
// update and Gemm's products) -- on the shapes of the Go suite
// (../cases.go), and prints Go benchmark lines,
//
//   BenchmarkKernels/kernel=Softmax/impl=onednn-avx512/shape=64x1000-2  N  T ns/op  E ns/elem  B GB/s
//
// so that benchstat reads this output beside `go test -bench . ./bench`.
//
// Build: gcc -O2 -fopenmp -I/usr/include/x86_64-linux-gnu/openblas-pthread
//          peers.c -o peers -ldnnl -lopenblas -lm
// Usage: peers [-count N] [-benchtime SECONDS] [-large] [-run REGEX] [-threads N]
//
// oneDNN's ISA is the library's choice (the best this CPU runs) unless
// ONEDNN_MAX_CPU_ISA (or DNNL_MAX_CPU_ISA) caps it; the impl name says which
// ISA oneDNN reports it dispatches to: onednn-avx512 for any avx512_core
// level, onednn-avx2 for avx2. run.sh runs this program once per ISA.
//
// Metrics are those of the Go suite (bench.Run): ns/elem (rows*cols, m*n for
// Ger, k*m*n for GerBatch and Gemm), GB/s (every input read and output
// written once), GFLOP/s (Ger, GerBatch, Gemm), x-copy (the large softmax
// case: the op's time over the time of a memcpy of the same bytes between
// two other buffers, timed after each op in the same loop).
//
// Everything runs on one thread: omp_set_num_threads(1) for oneDNN (built on
// OpenMP) and openblas_set_num_threads(1); -threads N changes both, to check
// that the setting takes effect. Each measurement is followed by a comment
// line (ignored by benchstat) with oneDNN's implementation name and the
// process's CPU time over the wall time (about 1.0 on one thread, up to N on
// N). The warm-up op's results are checked against a reference in double;
// a wrong one stops the program.

#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <regex.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include <cblas.h>
#include <dnnl.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

// ---- options and output ----

static int opt_count = 1;
static double opt_benchtime = 0.2; // seconds per measurement, at least
static int opt_large = 0;
static int opt_threads = 1;
static regex_t opt_run;
static int have_run = 0;
static char name_suffix[32] = ""; // "-2": the Go suite's GOMAXPROCS suffix

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "peers: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

#define DNNL_CHECK(call)                                                      \
    do {                                                                      \
        dnnl_status_t s_ = (call);                                            \
        if (s_ != dnnl_success) die("%s: oneDNN status %d", #call, (int)s_); \
    } while (0)

static double now(clockid_t clk) {
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *alloc_floats(size_t n) {
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes);
    if (!p) die("out of memory (%zu bytes)", bytes);
    memset(p, 0, bytes); // fault the pages in
    return p;
}

// Deterministic data: each case seeds its own generator (splitmix64).
static uint64_t rng_state;
static void seed(uint64_t s) { rng_state = s; }
static uint64_t next_u64(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static float next_unit(void) { return (float)(next_u64() >> 40) * 0x1p-24f; } // [0, 1)

// fill_uniform sets x to values uniform in [lo, hi).
static void fill_uniform(float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * next_unit();
}

#define LOGIT_LO (-5.0f) // logits uniform in [-5, 5)
#define LOGIT_HI 5.0f

// ---- cases ----

typedef struct Case Case;
struct Case {
    char name[160];     // kernel=K/impl=I/shape=S
    char kernel[24];    // K
    double elems;       // divisor of ns/elem
    double bytes;       // numerator of GB/s
    double flops;       // numerator of GFLOP/s (0: not reported)
    int xcopy;          // also time a memcpy of xcopy_floats after each op
    size_t xcopy_floats;
    void (*setup)(Case *);
    void (*op)(Case *);
    void (*teardown)(Case *);
    // state
    float *buf[4];
    int rows, cols, m, n, k;
    int gemm, trans_a, trans_b; // a Gemm case: C = op(A) op(B), op the transpose when set
    dnnl_primitive_t prim;
    dnnl_memory_t mem[4];
    int nargs;
    dnnl_exec_arg_t args[4];
    char impl_info[64]; // oneDNN's implementation name
};

// ---- oneDNN ----

static dnnl_engine_t engine;
static dnnl_stream_t stream;
static char onednn_impl[32]; // "onednn-avx512", "onednn-avx2"
static const char *isa_name(dnnl_cpu_isa_t isa) {
    switch (isa) {
    case dnnl_cpu_isa_all: return "all";
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    default: return "unknown";
    }
}

static void onednn_init(void) {
    DNNL_CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    DNNL_CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    const char *short_isa;
    switch (isa) {
    case dnnl_cpu_isa_avx512_core:
    case dnnl_cpu_isa_avx512_core_vnni:
    case dnnl_cpu_isa_avx512_core_bf16:
    case dnnl_cpu_isa_avx512_core_amx: short_isa = "avx512"; break;
    case dnnl_cpu_isa_avx2:
    case dnnl_cpu_isa_avx2_vnni: short_isa = "avx2"; break;
    default: short_isa = isa_name(isa);
    }
    snprintf(onednn_impl, sizeof onednn_impl, "onednn-%s", short_isa);
    const dnnl_version_t *v = dnnl_version();
    printf("# oneDNN %d.%d.%d (cpu runtime %s), effective ISA %s -> impl=%s, omp_get_max_threads %d\n",
           v->major, v->minor, v->patch,
           v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : v->cpu_runtime == DNNL_RUNTIME_SEQ ? "sequential" : "other",
           isa_name(isa), onednn_impl, omp_get_max_threads());
}

static void md_2d(dnnl_memory_desc_t *md, int rows, int cols) {
    dnnl_dims_t dims = {rows, cols};
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(md, 2, dims, dnnl_f32, dnnl_ab));
}

static void record_impl(Case *c, const_dnnl_primitive_desc_t pd) {
    const char *info = NULL;
    DNNL_CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &info));
    snprintf(c->impl_info, sizeof c->impl_info, "%s", info ? info : "?");
}

// softmax_fwd_pd creates the forward (log-)softmax primitive descriptor of a
// rows x cols batch along axis 1.
static dnnl_primitive_desc_t softmax_fwd_pd(int rows, int cols, dnnl_alg_kind_t alg, dnnl_prop_kind_t prop) {
    dnnl_memory_desc_t md;
    md_2d(&md, rows, cols);
    dnnl_softmax_v2_desc_t d;
    DNNL_CHECK(dnnl_softmax_v2_forward_desc_init(&d, prop, alg, &md, &md, 1));
    dnnl_primitive_desc_t pd;
    DNNL_CHECK(dnnl_primitive_desc_create(&pd, &d, NULL, engine, NULL));
    return pd;
}

static void bind(Case *c, int i, int arg, float *ptr) {
    dnnl_memory_desc_t md;
    md_2d(&md, c->rows, c->cols);
    DNNL_CHECK(dnnl_memory_create(&c->mem[i], &md, engine, ptr));
    c->args[i].arg = arg;
    c->args[i].memory = c->mem[i];
    c->nargs = i + 1;
}

static void onednn_exec(Case *c) {
    DNNL_CHECK(dnnl_primitive_execute(c->prim, stream, c->nargs, c->args));
    DNNL_CHECK(dnnl_stream_wait(stream));
}

static void softmax_setup_alg(Case *c, dnnl_alg_kind_t alg) {
    size_t n = (size_t)c->rows * c->cols;
    c->buf[0] = alloc_floats(n); // src
    c->buf[1] = alloc_floats(n); // dst
    fill_uniform(c->buf[0], n, LOGIT_LO, LOGIT_HI);
    dnnl_primitive_desc_t pd = softmax_fwd_pd(c->rows, c->cols, alg, dnnl_forward_inference);
    record_impl(c, pd);
    DNNL_CHECK(dnnl_primitive_create(&c->prim, pd));
    DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
    bind(c, 0, DNNL_ARG_SRC, c->buf[0]);
    bind(c, 1, DNNL_ARG_DST, c->buf[1]);
}
static void softmax_setup(Case *c) { softmax_setup_alg(c, dnnl_softmax_accurate); }
static void logsoftmax_setup(Case *c) { softmax_setup_alg(c, dnnl_softmax_log); }

// softmax_bwd_setup: dst = softmax(logits) (oneDNN's forward, once), diff_dst
// uniform in [-1, 1); the op computes diff_src = dst * (diff_dst - <diff_dst, dst>).
static void softmax_bwd_setup(Case *c) {
    size_t n = (size_t)c->rows * c->cols;
    float *logits = alloc_floats(n);
    c->buf[0] = alloc_floats(n); // dst
    c->buf[1] = alloc_floats(n); // diff_dst
    c->buf[2] = alloc_floats(n); // diff_src
    fill_uniform(logits, n, LOGIT_LO, LOGIT_HI);
    fill_uniform(c->buf[1], n, -1, 1);

    dnnl_primitive_desc_t fpd = softmax_fwd_pd(c->rows, c->cols, dnnl_softmax_accurate, dnnl_forward_training);
    dnnl_primitive_t fwd;
    DNNL_CHECK(dnnl_primitive_create(&fwd, fpd));
    dnnl_memory_t msrc, mdst;
    dnnl_memory_desc_t md;
    md_2d(&md, c->rows, c->cols);
    DNNL_CHECK(dnnl_memory_create(&msrc, &md, engine, logits));
    DNNL_CHECK(dnnl_memory_create(&mdst, &md, engine, c->buf[0]));
    dnnl_exec_arg_t fargs[2] = {{DNNL_ARG_SRC, msrc}, {DNNL_ARG_DST, mdst}};
    DNNL_CHECK(dnnl_primitive_execute(fwd, stream, 2, fargs));
    DNNL_CHECK(dnnl_stream_wait(stream));
    dnnl_memory_destroy(msrc);
    dnnl_memory_destroy(mdst);
    dnnl_primitive_destroy(fwd);
    free(logits);

    dnnl_softmax_v2_desc_t d;
    DNNL_CHECK(dnnl_softmax_v2_backward_desc_init(&d, dnnl_softmax_accurate, &md, &md, &md, 1));
    dnnl_primitive_desc_t pd;
    DNNL_CHECK(dnnl_primitive_desc_create(&pd, &d, NULL, engine, fpd));
    record_impl(c, pd);
    DNNL_CHECK(dnnl_primitive_create(&c->prim, pd));
    DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
    DNNL_CHECK(dnnl_primitive_desc_destroy(fpd));
    bind(c, 0, DNNL_ARG_DST, c->buf[0]);
    bind(c, 1, DNNL_ARG_DIFF_DST, c->buf[1]);
    bind(c, 2, DNNL_ARG_DIFF_SRC, c->buf[2]);
}

static void onednn_teardown(Case *c) {
    for (int i = 0; i < c->nargs; i++) dnnl_memory_destroy(c->mem[i]);
    dnnl_primitive_destroy(c->prim);
    c->prim = NULL;
    c->nargs = 0;
}

// ---- memcpy: the bandwidth ceiling of a softmax of the same size ----

static void memcpy_setup(Case *c) {
    size_t n = (size_t)c->rows * c->cols;
    c->buf[0] = alloc_floats(n);
    c->buf[1] = alloc_floats(n);
    fill_uniform(c->buf[0], n, LOGIT_LO, LOGIT_HI);
}
static void memcpy_op(Case *c) { memcpy(c->buf[1], c->buf[0], (size_t)c->rows * c->cols * sizeof(float)); }

// ---- OpenBLAS: Ger and GerBatch as in ../cases.go (alpha 1e-3, data in [-1, 1)) ----

#define GER_ALPHA 1e-3f

static void ger_setup(Case *c) {
    int k = c->k ? c->k : 1;
    c->buf[0] = alloc_floats((size_t)c->m * c->n); // a, m x n, lda n
    c->buf[1] = alloc_floats((size_t)k * c->m);    // x (k x m)
    c->buf[2] = alloc_floats((size_t)k * c->n);    // y (k x n)
    fill_uniform(c->buf[0], (size_t)c->m * c->n, -1, 1);
    fill_uniform(c->buf[1], (size_t)k * c->m, -1, 1);
    fill_uniform(c->buf[2], (size_t)k * c->n, -1, 1);
}

// a += alpha * x * y^T
static void sger_op(Case *c) {
    cblas_sger(CblasRowMajor, c->m, c->n, GER_ALPHA, c->buf[1], 1, c->buf[2], 1, c->buf[0], c->n);
}

// A (m x n) += alpha * X^T * Y, X k x m and Y k x n row-major.
static void sgemm_op(Case *c) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, c->m, c->n, c->k, GER_ALPHA,
                c->buf[1], c->m, c->buf[2], c->n, 1.0f, c->buf[0], c->n);
}

// ---- OpenBLAS: Gemm as in ../cases.go: C = op(A) op(B), alpha 1, beta 0,
// A m x k (k x m when transposed) and B k x n (n x k) uniform in [-1, 1) ----

static int gemm_lda(const Case *c) { return c->trans_a ? c->m : c->k; }
static int gemm_ldb(const Case *c) { return c->trans_b ? c->k : c->n; }

static void gemm_setup(Case *c) {
    c->buf[0] = alloc_floats((size_t)c->m * c->k); // A
    c->buf[1] = alloc_floats((size_t)c->k * c->n); // B
    c->buf[2] = alloc_floats((size_t)c->m * c->n); // C
    fill_uniform(c->buf[0], (size_t)c->m * c->k, -1, 1);
    fill_uniform(c->buf[1], (size_t)c->k * c->n, -1, 1);
}

static void gemm_op(Case *c) {
    cblas_sgemm(CblasRowMajor, c->trans_a ? CblasTrans : CblasNoTrans, c->trans_b ? CblasTrans : CblasNoTrans,
                c->m, c->n, c->k, 1.0f, c->buf[0], gemm_lda(c), c->buf[1], gemm_ldb(c), 0.0f, c->buf[2], c->n);
}

static void free_teardown(Case *c) {
    for (int i = 0; i < 4; i++) {
        free(c->buf[i]);
        c->buf[i] = NULL;
    }
}

static void onednn_free_teardown(Case *c) {
    onednn_teardown(c);
    free_teardown(c);
}

// ---- the case list ----

#define MAXCASES 64
static Case cases[MAXCASES];
static int ncases;

static Case *add(const char *kernel, const char *impl, const char *shape) {
    if (ncases == MAXCASES) die("too many cases");
    Case *c = &cases[ncases++];
    memset(c, 0, sizeof *c);
    int len = snprintf(c->name, sizeof c->name, "kernel=%s/impl=%s/shape=%s", kernel, impl, shape);
    // As softgrad's cases on more than one thread are named (bench/).
    if (opt_threads > 1) snprintf(c->name + len, sizeof c->name - len, "/threads=%d", opt_threads);
    snprintf(c->kernel, sizeof c->kernel, "%s", kernel);
    return c;
}

// add_row adds a row kernel's case; perElem is the bytes it moves per element.
static void add_row(const char *kernel, const char *impl, int rows, int cols, double per_elem,
                    void (*setup)(Case *), void (*op)(Case *), void (*teardown)(Case *)) {
    char shape[32];
    snprintf(shape, sizeof shape, "%dx%d", rows, cols);
    Case *c = add(kernel, impl, shape);
    c->rows = rows, c->cols = cols;
    c->elems = (double)rows * cols;
    c->bytes = per_elem * c->elems;
    c->setup = setup, c->op = op, c->teardown = teardown;
}

static void add_ger(const char *impl, int m, int n, int k, void (*op)(Case *)) {
    char shape[32];
    if (k)
        snprintf(shape, sizeof shape, "%dx%dxk%d", m, n, k);
    else
        snprintf(shape, sizeof shape, "%dx%d", m, n);
    Case *c = add(k ? "GerBatch" : "Ger", impl, shape);
    double kk = k ? k : 1;
    c->m = m, c->n = n, c->k = k;
    c->elems = kk * m * n;
    c->bytes = 8.0 * m * n + 4.0 * kk * (m + n); // a read and written, x and y read
    c->flops = 2.0 * kk * m * n;
    c->setup = ger_setup, c->op = op, c->teardown = free_teardown;
}

// add_gemm adds a Gemm case, named as the Go suite names it: MxNxkK and the
// ops, N for a matrix as stored, T for its transpose ("256x1000xk1024NT").
static void add_gemm(const char *impl, int m, int n, int k, int trans_a, int trans_b) {
    char shape[48];
    snprintf(shape, sizeof shape, "%dx%dxk%d%c%c", m, n, k, trans_a ? 'T' : 'N', trans_b ? 'T' : 'N');
    Case *c = add("Gemm", impl, shape);
    c->m = m, c->n = n, c->k = k;
    c->gemm = 1, c->trans_a = trans_a, c->trans_b = trans_b;
    c->elems = (double)m * n * k;
    c->bytes = 4.0 * ((double)m * k + (double)k * n + (double)m * n); // A and B read, C written (beta 0)
    c->flops = 2.0 * m * n * k;
    c->setup = gemm_setup, c->op = gemm_op, c->teardown = free_teardown;
}

static void build_cases(void) {
    static const int softmax_shapes[][2] = {{64, 1000}, {256, 10}, {32, 32000}, {64, 1 << 20}};
    for (size_t i = 0; i < sizeof softmax_shapes / sizeof softmax_shapes[0]; i++) {
        int rows = softmax_shapes[i][0], cols = softmax_shapes[i][1];
        int large = (size_t)rows * cols >= (1u << 24);
        if (large && !opt_large) continue;
        add_row("Softmax", onednn_impl, rows, cols, 8, softmax_setup, onednn_exec, onednn_free_teardown);
        if (large) {
            Case *c = &cases[ncases - 1];
            c->xcopy = 1;
            c->xcopy_floats = (size_t)rows * cols;
            add_row("Softmax", "memcpy", rows, cols, 8, memcpy_setup, memcpy_op, free_teardown);
        }
    }
    add_row("LogSoftmax", onednn_impl, 64, 1000, 8, logsoftmax_setup, onednn_exec, onednn_free_teardown);
    add_row("SoftmaxBackward", onednn_impl, 64, 1000, 12, softmax_bwd_setup, onednn_exec, onednn_free_teardown);

    add_ger("openblas", 1024, 1024, 0, sger_op);
    add_ger("openblas", 784, 10, 0, sger_op);
    static const int gemm_shapes[][3] = {
        {784, 10, 32}, {784, 10, 128}, {1024, 1024, 16}, {1024, 1024, 32}, {1024, 1024, 128}, {4096, 1000, 64},
    };
    for (size_t i = 0; i < sizeof gemm_shapes / sizeof gemm_shapes[0]; i++)
        add_ger("openblas", gemm_shapes[i][0], gemm_shapes[i][1], gemm_shapes[i][2], sgemm_op);

    // m, n, k, transA, transB: a classifier layer's forward pass (NT) and
    // input gradient (NN), and a square product (../cases.go).
    static const int gemm_cases[][5] = {
        {64, 10, 784, 0, 1}, {256, 1000, 1024, 0, 1}, {256, 1024, 1000, 0, 0}, {32, 32000, 1024, 0, 1}, {1024, 1024, 1024, 0, 0},
    };
    for (size_t i = 0; i < sizeof gemm_cases / sizeof gemm_cases[0]; i++) {
        const int *g = gemm_cases[i];
        add_gemm("openblas", g[0], g[1], g[2], g[3], g[4]);
    }
}

// ---- checks: the warm-up op's results against a reference in double ----

// The Ger elements checked: (0, 0), the middle one and the last.
static void ger_points(const Case *c, size_t idx[3]) {
    idx[0] = 0;
    idx[1] = (size_t)(c->m / 2) * c->n + c->n / 2;
    idx[2] = (size_t)c->m * c->n - 1;
}

static void check_fail(const Case *c, const char *what, double got, double want) {
    die("%s: wrong result (%s): got %.9g, want %.9g", c->name, what, got, want);
}

// check_row checks row r of a row kernel's output.
static void check_row(const Case *c, int r) {
    size_t off = (size_t)r * c->cols;
    int n = c->cols;
    if (!strcmp(c->kernel, "SoftmaxBackward")) { // dx = y * (dy - <dy, y>)
        const float *y = c->buf[0] + off, *dy = c->buf[1] + off, *dx = c->buf[2] + off;
        double dot = 0;
        for (int j = 0; j < n; j++) dot += (double)dy[j] * y[j];
        for (int j = 0; j < n; j++) {
            double want = y[j] * (dy[j] - dot);
            if (fabs(dx[j] - want) > 1e-5 + 1e-4 * fabs(want)) check_fail(c, "diff_src", dx[j], want);
        }
        return;
    }
    const float *x = c->buf[0] + off, *y = c->buf[1] + off;
    if (!strcmp(c->kernel, "Softmax") && strstr(c->name, "impl=memcpy")) {
        if (memcmp(x, y, n * sizeof(float))) die("%s: wrong copy", c->name);
        return;
    }
    double max = x[0], sum = 0;
    for (int j = 0; j < n; j++) max = x[j] > max ? x[j] : max;
    for (int j = 0; j < n; j++) sum += exp(x[j] - max);
    for (int j = 0; j < n; j++) {
        double want = !strcmp(c->kernel, "Softmax") ? exp(x[j] - max) / sum : x[j] - max - log(sum);
        if (fabs(y[j] - want) > 1e-6 + 1e-4 * fabs(want)) check_fail(c, "dst", y[j], want);
    }
}

// check_gemm checks three elements of C (as ger_points picks them) against
// a sum in double, within the float32 error bound of a k-term dot product.
static void check_gemm(const Case *c) {
    size_t idx[3];
    ger_points(c, idx);
    int lda = gemm_lda(c), ldb = gemm_ldb(c);
    for (int p = 0; p < 3; p++) {
        int i = idx[p] / c->n, j = idx[p] % c->n;
        double want = 0, mag = 0;
        for (int s = 0; s < c->k; s++) {
            double a = c->trans_a ? c->buf[0][(size_t)s * lda + i] : c->buf[0][(size_t)i * lda + s];
            double b = c->trans_b ? c->buf[1][(size_t)j * ldb + s] : c->buf[1][(size_t)s * ldb + j];
            want += a * b;
            mag += fabs(a * b);
        }
        double got = c->buf[2][idx[p]];
        if (fabs(got - want) > 1e-6 + 2.0 * c->k * 0x1p-24 * mag) check_fail(c, "c", got, want);
    }
}

// check_before saves what check_after needs from before the op (Ger's a).
static void check_before(const Case *c, double saved[3]) {
    if (c->m == 0 || c->gemm) return;
    size_t idx[3];
    ger_points(c, idx);
    for (int i = 0; i < 3; i++) saved[i] = c->buf[0][idx[i]];
}

static void check_after(const Case *c, const double saved[3]) {
    if (c->gemm) {
        check_gemm(c);
        return;
    }
    if (c->m == 0) {
        check_row(c, 0);
        check_row(c, c->rows - 1);
        return;
    }
    size_t idx[3];
    ger_points(c, idx);
    int k = c->k ? c->k : 1;
    for (int p = 0; p < 3; p++) {
        int i = idx[p] / c->n, j = idx[p] % c->n;
        double dot = 0;
        for (int s = 0; s < k; s++) dot += (double)c->buf[1][(size_t)s * c->m + i] * c->buf[2][(size_t)s * c->n + j];
        double want = saved[p] + GER_ALPHA * dot, got = c->buf[0][idx[p]];
        if (fabs(got - want) > 1e-5 + 1e-5 * fabs(want)) check_fail(c, "a", got, want);
    }
}

// ---- timing ----

// measure runs one measurement of c: setup, one untimed op, then batches of
// n ops, n growing as in Go's testing package until a batch lasts at least
// opt_benchtime; prints that batch.
static void measure(Case *c) {
    seed(0x50f76ad); // the same data in every measurement, whatever ran before
    c->setup(c);
    float *xsrc = NULL, *xdst = NULL;
    size_t xbytes = c->xcopy_floats * sizeof(float);
    if (c->xcopy) {
        xsrc = alloc_floats(c->xcopy_floats);
        xdst = alloc_floats(c->xcopy_floats);
        memcpy(xdst, xsrc, xbytes);
    }
    double saved[3];
    check_before(c, saved);
    c->op(c); // warm up: fault the output in, load the caches
    check_after(c, saved);

    long n = 1;
    double wall, cpu, copy_time;
    for (;;) {
        copy_time = 0;
        double c0 = now(CLOCK_PROCESS_CPUTIME_ID);
        double t0 = now(CLOCK_MONOTONIC);
        for (long i = 0; i < n; i++) {
            c->op(c);
            if (c->xcopy) { // timed apart, and left out of the op's time
                double s = now(CLOCK_MONOTONIC);
                memcpy(xdst, xsrc, xbytes);
                double e = now(CLOCK_MONOTONIC);
                copy_time += e - s;
                t0 += e - s;
            }
        }
        wall = now(CLOCK_MONOTONIC) - t0;
        cpu = now(CLOCK_PROCESS_CPUTIME_ID) - c0 - copy_time; // the copies ran on this thread
        if (wall >= opt_benchtime || n >= 1000000000L) break;
        // Predict the n that lasts benchtime, with 20% to spare, growing at
        // most 100x and at least by one.
        double per = wall > 0 ? wall / n : 1e-9;
        long next = (long)(1.2 * opt_benchtime / per);
        if (next > 100 * n) next = 100 * n;
        if (next <= n) next = n + 1;
        n = next;
    }

    double ns = wall * 1e9 / n;
    printf("BenchmarkKernels/%s%s \t%10ld\t%14.1f ns/op", c->name, name_suffix, n, ns);
    printf("\t%12.4g ns/elem", ns / c->elems);
    printf("\t%12.4g GB/s", c->bytes / ns);
    if (c->flops > 0) printf("\t%12.4g GFLOP/s", c->flops / ns);
    if (c->xcopy && copy_time > 0) printf("\t%12.4g x-copy", wall / copy_time);
    printf("\n");
    printf("# %s: %s%scpu/wall %.2f\n", c->name, c->impl_info, c->impl_info[0] ? ", " : "", cpu / wall);
    fflush(stdout);

    free(xsrc);
    free(xdst);
    c->teardown(c);
}

// ---- main ----

static void usage(void) {
    fprintf(stderr,
            "usage: peers [-count N] [-benchtime SECONDS] [-large] [-run REGEX] [-threads N] [-list]\n"
            "  -count N          run every case N times, all cases once per round (default 1)\n"
            "  -benchtime S      least seconds per measurement (default 0.2)\n"
            "  -large            add Softmax 64x1048576 and its memcpy (4 x 256 MB buffers)\n"
            "  -run REGEX        only the cases whose name (kernel=K/impl=I/shape=S) matches (POSIX ERE)\n"
            "  -threads N        oneDNN's and OpenBLAS's threads (default 1)\n"
            "  -list             print the case names and exit\n"
            "environment: ONEDNN_MAX_CPU_ISA (or DNNL_MAX_CPU_ISA) caps oneDNN's ISA, e.g. AVX2;\n"
            "GOMAXPROCS, if set, is the name suffix (-N) that the Go suite would print\n");
    exit(2);
}

// cpu_brand sets name to the CPUID brand string as Go's testing package
// prints it on its cpu: line (internal/cpu.Name: leading spaces dropped, cut
// at the first NUL, trailing spaces kept), so that benchstat files both
// outputs under the same configuration; "" where CPUID has none. A VM's
// brand string can differ from /proc/cpuinfo's model name.
static void cpu_brand(char name[49]) {
    name[0] = 0;
#if defined(__x86_64__) || defined(__i386__)
    unsigned int regs[12];
    if (__get_cpuid_max(0x80000000, NULL) < 0x80000004) return;
    for (unsigned int i = 0; i < 3; i++)
        __get_cpuid(0x80000002 + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
    char raw[49];
    memcpy(raw, regs, 48);
    raw[48] = 0;
    const char *p = raw;
    while (*p == ' ') p++;
    snprintf(name, 49, "%s", p);
#endif
}

static void print_header(void) {
    struct utsname u;
    uname(&u);
    printf("goos: linux\n");
    printf("goarch: %s\n", strcmp(u.machine, "x86_64") == 0 ? "amd64" : u.machine);
    printf("pkg: github.com/softgrad/softgrad/bench\n");
    char brand[49];
    cpu_brand(brand);
    if (brand[0]) {
        printf("cpu: %s\n", brand);
        return;
    }
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *v = strchr(line, ':');
            if (v) {
                v++;
                while (*v == ' ' || *v == '\t') v++;
                v[strcspn(v, "\n")] = 0;
                printf("cpu: %s\n", v);
            }
            break;
        }
    }
    if (f) fclose(f);
}

int main(int argc, char **argv) {
    int list = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1] == '-') a++; // --flag as -flag
        if (!strcmp(a, "-count") && i + 1 < argc)
            opt_count = atoi(argv[++i]);
        else if (!strcmp(a, "-benchtime") && i + 1 < argc)
            opt_benchtime = atof(argv[++i]);
        else if (!strcmp(a, "-large"))
            opt_large = 1;
        else if (!strcmp(a, "-threads") && i + 1 < argc)
            opt_threads = atoi(argv[++i]);
        else if (!strcmp(a, "-list"))
            list = 1;
        else if (!strcmp(a, "-run") && i + 1 < argc) {
            if (regcomp(&opt_run, argv[++i], REG_EXTENDED | REG_NOSUB)) die("bad -run regexp %s", argv[i]);
            have_run = 1;
        } else
            usage();
    }
    if (opt_count < 1 || opt_benchtime <= 0 || opt_threads < 1) usage();

    // The Go suite's names end in -GOMAXPROCS (none when it is 1); print the
    // same suffix so that benchstat puts both in the same rows. It names the
    // Go run's setting, not this program's threads (opt_threads).
    int procs = 0;
    const char *gmp = getenv("GOMAXPROCS");
    if (gmp && atoi(gmp) > 0) {
        procs = atoi(gmp);
    } else {
        cpu_set_t set;
        procs = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
    }
    if (procs > 1) snprintf(name_suffix, sizeof name_suffix, "-%d", procs);

    omp_set_num_threads(opt_threads);
    openblas_set_num_threads(opt_threads);

    print_header();
    onednn_init();
    // The core OpenBLAS dispatches to: its choice for this CPU, unless
    // OPENBLAS_CORETYPE forces one (run.sh unsets it).
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    printf("# %s, core %s (%s%s), threads %d\n", openblas_get_config(), openblas_get_corename(),
           coretype ? "forced by OPENBLAS_CORETYPE=" : "OpenBLAS's choice; OPENBLAS_CORETYPE unset",
           coretype ? coretype : "", openblas_get_num_threads());
    build_cases();

    Case *run[MAXCASES];
    int nrun = 0;
    for (int i = 0; i < ncases; i++)
        if (!have_run || regexec(&opt_run, cases[i].name, 0, NULL, 0) == 0) run[nrun++] = &cases[i];
    if (list) {
        for (int i = 0; i < nrun; i++) printf("BenchmarkKernels/%s%s\n", run[i]->name, name_suffix);
        return 0;
    }
    for (int r = 0; r < opt_count; r++)
        for (int i = 0; i < nrun; i++) measure(run[i]);

    // Threads of this process at the end: 1 when neither OpenMP nor OpenBLAS
    // started any (OpenBLAS starts its pool when loaded, sized by
    // OPENBLAS_NUM_THREADS or OMP_NUM_THREADS, else one per CPU; its threads
    // then idle after openblas_set_num_threads(1)).
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "Threads:", 8) == 0) printf("# process threads at exit: %s", line + 8 + strspn(line + 8, " \t"));
    if (f) fclose(f);
    return 0;
}
