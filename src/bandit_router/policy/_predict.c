/* A decision's prediction, in one call: the C twin of the numpy path of
 * policy/posterior.py (ArmView.predict_numpy and _Spread.norms), which stays the definition.
 *
 * predict(theta, x, sigma, factors, table, out)
 *   theta    float64 buffer (K * d): the arms' posterior means, row by row
 *   x        float64 buffer (d): the context
 *   sigma    float64 buffer (K): each arm's noise std x exploration
 *   factors  float32 buffer: _Spread's bands one after another, each (K * rows, width) row
 *            major, arm by arm (arm a's rows are a * rows ... a * rows + rows - 1), width
 *            c1 - c0 rounded up to a multiple of PAD, the padding zero
 *   table    int64 buffer (4 per band): offset of the band in factors, rows per arm, c0, c1
 *   out      writable float64 buffer (2 * K) that receives the K means theta_k . x, then the
 *            K spreads sigma_k * ||rinv_k x|| (the rows of rinv_k outside the bands are zero)
 *
 * Not bit for bit the numpy path: numpy's products are BLAS's (dgemv, sgemv) whose order of
 * summation is the library's and the CPU's. Here each float32 row product sums in 16 float32
 * lanes and then pairwise, the squares and the means in float64, in an order fixed by this
 * file alone: lane-wise vector arithmetic (GCC/clang vector extensions), no fused
 * multiply-add (-ffp-contract=off), so the AVX2 clone and the baseline x86-64 one give the
 * same bits (checked: the pinned digest of tests/policy/test_propensity_native.py with
 * either). The means agree with numpy's to ~1e-16 relative, the spreads to float32 rounding
 * (~1e-7 relative); tests/policy/test_predict_native.py bounds both on random posteriors.
 * Only exact work is skipped: a band whose columns are all outside x's first..last non-zero
 * entry (numpy's path skips the same bands).
 *
 * Why it exists (issue 19, fifth session, benchmarks/README.md, "The decision's prediction in
 * one C call"): the numpy path is a dozen numpy calls (the means' dgemv, nonzero, astype,
 * zeros, one sgemv per band, square, reduceat, reshape, add.reduce, sqrt, multiply), and a
 * decision that comes after ~15 ms away (the benchmark's p99, a quiet server's every
 * decision) reloads each call's dispatch and loop code. Measured at K = 10 on a busy 2-core
 * machine (chrt -f 10 python -m benchmarks.cold, three runs, p50): the prediction 70-79 us
 * cold and 25-28 warm by numpy, 42-44 and 15-17 here; a whole cold decision 256-264 ->
 * 224-237 us; 947 k -> 874 k instructions per decision (callgrind; K = 50: 2.34 M -> 2.21 M).
 * The decision benchmark's p99 did not move beyond its noise.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "_buffers.h"

/* Lane-wise vectors (GCC and clang): the same arithmetic whatever the instructions, so that
 * the AVX2 clone below and the baseline one give the same bits. */
typedef float v8f __attribute__((vector_size(32)));
typedef double v4d __attribute__((vector_size(32)));

/* Each band row is padded with zeros to a multiple of PAD floats (posterior._Spread.PAD). */
#define PAD 16

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CLONES
#endif

/* Unaligned loads, as macros: a function returning a 32-byte vector draws GCC's -Wpsabi
 * note where AVX is not enabled. */
#define LOAD8(v, p) memcpy(&(v), (p), sizeof(v))
#define LOAD4D(v, p) memcpy(&(v), (p), sizeof(v))

/* sum_j theta[j] x[j] in float64: 8 lanes, then pairwise, then the tail in order. */
CLONES static double dot64(const double *a, const double *b, Py_ssize_t n) {
    v4d s0 = {0, 0, 0, 0}, s1 = s0;
    Py_ssize_t j = 0;
    for (; j + 8 <= n; j += 8) {
        v4d a0, b0, a1, b1;
        LOAD4D(a0, a + j);
        LOAD4D(b0, b + j);
        LOAD4D(a1, a + j + 4);
        LOAD4D(b1, b + j + 4);
        s0 += a0 * b0;
        s1 += a1 * b1;
    }
    v4d s = s0 + s1;
    double r = (s[0] + s[1]) + (s[2] + s[3]);
    for (; j < n; j++)
        r += a[j] * b[j];
    return r;
}

/* sum over the K * rows rows of one band of (row . x)^2, each row's product in 16 float32
 * lanes (n a multiple of PAD), pairwise, then squared in float64; out[a] += arm a's rows. */
CLONES static void band_squares(const float *m, const float *x, int64_t rows, Py_ssize_t k,
                                int64_t n, double *out) {
    for (Py_ssize_t a = 0; a < k; a++) {
        double acc = 0.0;
        for (int64_t r = 0; r < rows; r++, m += n) {
            v8f s0 = {0, 0, 0, 0, 0, 0, 0, 0}, s1 = s0;
            for (int64_t j = 0; j < n; j += PAD) {
                v8f m0, x0, m1, x1;
                LOAD8(m0, m + j);
                LOAD8(x0, x + j);
                LOAD8(m1, m + j + 8);
                LOAD8(x1, x + j + 8);
                s0 += m0 * x0;
                s1 += m1 * x1;
            }
            v8f s = s0 + s1;
            float z = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
            acc += (double)z * (double)z;
        }
        out[a] += acc;
    }
}

static PyObject *predict(PyObject *self, PyObject *args) {
    PyObject *theta_obj, *x_obj, *sigma_obj, *f_obj, *t_obj, *out_obj;
    Py_buffer th, xb, sg, fb, tb, ob;
    if (!PyArg_ParseTuple(args, "OOOOOO", &theta_obj, &x_obj, &sigma_obj, &f_obj, &t_obj,
                          &out_obj))
        return NULL;
    if (get_buf(x_obj, &xb, 0, "d", 8, "x") < 0)
        return NULL;
    if (get_buf(theta_obj, &th, 0, "d", 8, "theta") < 0)
        goto fail_x;
    if (get_buf(sigma_obj, &sg, 0, "d", 8, "sigma") < 0)
        goto fail_th;
    if (get_buf(f_obj, &fb, 0, "f", 4, "factors") < 0)
        goto fail_sg;
    if (get_buf(t_obj, &tb, 0, "q", 8, "table") < 0)
        goto fail_fb;
    if (get_buf(out_obj, &ob, 1, "d", 8, "out") < 0)
        goto fail_tb;
    const Py_ssize_t d = xb.len / 8, k = sg.len / 8, nf = fb.len / 4, nb = tb.len / 32;
    if (th.len / 8 != k * d || ob.len / 8 != 2 * k || tb.len % 32 != 0) {
        PyErr_SetString(PyExc_ValueError, "shapes: theta (K * d), x (d), sigma (K), "
                                          "table (4 per band), out (2 K)");
        goto fail;
    }
    const double *x = (const double *)xb.buf, *theta = (const double *)th.buf;
    const double *sigma = (const double *)sg.buf;
    const float *factors = (const float *)fb.buf;
    const int64_t *table = (const int64_t *)tb.buf;
    double *mean = (double *)ob.buf, *sd = mean + k;
    for (Py_ssize_t b = 0; b < nb; b++) {  /* every band inside the factors and x */
        const int64_t off = table[4 * b], rows = table[4 * b + 1];
        const int64_t c0 = table[4 * b + 2], c1 = table[4 * b + 3];
        const int64_t width = (c1 - c0 + PAD - 1) / PAD * PAD;
        if (off < 0 || rows < 0 || c0 < 0 || c1 < c0 || c1 > d || off + k * rows * width > nf) {
            PyErr_SetString(PyExc_ValueError, "a band lies outside the factors or x");
            goto fail;
        }
    }
    Py_ssize_t first = 0, last = d - 1;
    while (first < d && x[first] == 0.0)
        first++;
    while (last >= first && x[last] == 0.0)
        last--;
    /* x in float32, then PAD zeros: a band's padded columns may run past d (their factors
     * are 0, so what x holds there adds nothing). */
    float *x32 = PyMem_Malloc(sizeof(float) * (d + PAD));
    if (x32 == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t j = 0; j < d; j++)
        x32[j] = (float)x[j];
    for (Py_ssize_t j = d; j < d + PAD; j++)
        x32[j] = 0.0f;
    for (Py_ssize_t a = 0; a < k; a++) {
        mean[a] = dot64(theta + a * d, x, d);
        sd[a] = 0.0;
    }
    for (Py_ssize_t b = 0; b < nb && first <= last; b++) {
        const int64_t off = table[4 * b], rows = table[4 * b + 1];
        const int64_t c0 = table[4 * b + 2], c1 = table[4 * b + 3];
        if (c1 <= first || c0 > last)
            continue;  /* x is zero on every column of this band */
        band_squares(factors + off, x32 + c0, rows, k, (c1 - c0 + PAD - 1) / PAD * PAD, sd);
    }
    for (Py_ssize_t a = 0; a < k; a++)
        sd[a] = sigma[a] * sqrt(sd[a]);
    PyMem_Free(x32);
    PyBuffer_Release(&ob);
    PyBuffer_Release(&tb);
    PyBuffer_Release(&fb);
    PyBuffer_Release(&sg);
    PyBuffer_Release(&th);
    PyBuffer_Release(&xb);
    Py_RETURN_NONE;
fail:
    PyBuffer_Release(&ob);
fail_tb:
    PyBuffer_Release(&tb);
fail_fb:
    PyBuffer_Release(&fb);
fail_sg:
    PyBuffer_Release(&sg);
fail_th:
    PyBuffer_Release(&th);
fail_x:
    PyBuffer_Release(&xb);
    return NULL;
}

/* cost(w, x, estimate, floor, ratio_max, out): out[k] = estimate[k] * clip(1 + w_k . x,
 * floor, ratio_max), policy/cost.py's predict (the definition) in one call; w is K * d float64,
 * x d, estimate and out K. The same operations but the product's order of summation; a NaN
 * stays NaN as with np.maximum / np.minimum. */
static PyObject *cost(PyObject *self, PyObject *args) {
    PyObject *w_obj, *x_obj, *e_obj, *out_obj;
    double floor_, ratio_max;
    Py_buffer wb, xb, eb, ob;
    if (!PyArg_ParseTuple(args, "OOOddO", &w_obj, &x_obj, &e_obj, &floor_, &ratio_max,
                          &out_obj))
        return NULL;
    if (get_buf(x_obj, &xb, 0, "d", 8, "x") < 0)
        return NULL;
    if (get_buf(w_obj, &wb, 0, "d", 8, "w") < 0)
        goto fail_x;
    if (get_buf(e_obj, &eb, 0, "d", 8, "estimate") < 0)
        goto fail_w;
    if (get_buf(out_obj, &ob, 1, "d", 8, "out") < 0)
        goto fail_e;
    const Py_ssize_t d = xb.len / 8, k = eb.len / 8;
    if (wb.len / 8 != k * d || ob.len / 8 != k) {
        PyErr_SetString(PyExc_ValueError, "shapes: w (K * d), x (d), estimate and out (K)");
        PyBuffer_Release(&ob);
        goto fail_e;
    }
    const double *w = (const double *)wb.buf, *x = (const double *)xb.buf;
    const double *e = (const double *)eb.buf;
    double *out = (double *)ob.buf;
    for (Py_ssize_t a = 0; a < k; a++) {
        double m = dot64(w + a * d, x, d) + 1.0;
        m = m < floor_ ? floor_ : m;  /* NaN compares false: kept, as np.maximum keeps it */
        m = m > ratio_max ? ratio_max : m;
        out[a] = e[a] * m;
    }
    PyBuffer_Release(&ob);
    PyBuffer_Release(&eb);
    PyBuffer_Release(&wb);
    PyBuffer_Release(&xb);
    Py_RETURN_NONE;
fail_e:
    PyBuffer_Release(&eb);
fail_w:
    PyBuffer_Release(&wb);
fail_x:
    PyBuffer_Release(&xb);
    return NULL;
}

static PyMethodDef methods[] = {
    {"predict", predict, METH_VARARGS, "Every arm's posterior mean and spread at x."},
    {"cost", cost, METH_VARARGS, "Every arm's learned price at x."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_predict", NULL, -1, methods};

PyMODINIT_FUNC PyInit__predict(void) { return PyModule_Create(&module); }
