/* Thompson sampling's decision in C: the twin of the numpy path of policy/thompson.py and
 * policy/base.py (LinearPolicy.choose, _floor, ThompsonSampling._score and
 * _argmax_probability), which stays the definition and the path of an install without a
 * compiler.
 *
 * product(utility, s, c, grid, out)
 *   utility, s  float64 buffers (K): the eligible arms' utilities and spreads (s > 0)
 *   c           the chosen arm's index among them
 *   grid        float64 buffer (G): the standard normal grid
 *   out         writable float64 buffer (G) that receives, at each grid point g,
 *               prod_{j != c} Phi((utility[c] + s[c] * grid[g] - utility[j]) / s[j])
 *
 * Bit for bit the numpy path's product (tests/policy/test_propensity_native.py compares them
 * on thousands of random cases): the same operations in the same order (the numpy path
 * multiplies the rows in arm order, the chosen arm's row being exactly 1), Phi is scipy's own
 * ndtr (its double-precision function pointer, taken from scipy.special.cython_special when
 * the module is imported), and the only work skipped is exact: a factor Phi(z) that equals
 * 1.0 (z >= 8.5, checked in the test) and any factor once the product is 0.0. Compiled with
 * -ffp-contract=off (hatch_build.py) so that no multiply-add is fused.
 *
 * probability(utility, sd, c, grid, weights) -> float
 *   min(1, sum_g weights[g] * product(utility, max(sd, 1e-12), c)[g]): the probability that
 *   arm c's sample is the largest. The sum runs in grid order, one term after another; the
 *   numpy path's is BLAS's dot (its own order), so the two differ in the last bits
 *   (tests/policy/test_thompson_native.py bounds it). Both choose() and the policy's
 *   probabilities() use this one sum, so a logged propensity is exactly probabilities()'s.
 *
 * choose(utility, sd, eligible, rng, propensity_floor, floor_mass, floor_prune, grid,
 *        weights, ranking) -> (index, propensity, explored, score, n) or None
 *   The whole untruncated Thompson decision with the unbounded floor: the sample
 *   score = utility + sd * z (z = rng.standard_normal(K), score written into z's array),
 *   the argmax over the eligible arms (eligible: bool buffer (K), or None for all), the
 *   floor of LinearPolicy._floor, the exploration draw (rng.random(), then rng.integers(0, n)
 *   or rng.random() as base._uniform_index / _weighted_index draw it), the propensity and
 *   the ranking (chosen first, then the others by utility, ties in index order), written
 *   into ranking (intp buffer, K; its first n entries). The generator's methods are called
 *   exactly as the numpy path calls them, in the same order, so the random stream and every
 *   choice are the same; None when no arm is eligible (nothing drawn).
 *
 * Why choose() exists (issue 19, sixth session, benchmarks/README.md): the numpy path is some
 * 40 Python and numpy calls per decision, and a decision that comes after the process did
 * something else (the decision benchmark's p99, a quiet server's every decision) pays each
 * call's code again; here it is three generator calls and one loop.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "_buffers.h"

typedef double (*ndtr_t)(double, int);
static ndtr_t ndtr_fn = NULL;

/* Phi(z) is exactly 1.0 from here on (scipy's ndtr, checked on a fine grid up to 40 and at
 * +inf in the tests); such a factor is skipped. */
#define ONE_FROM 8.5

/* out[i] = prod_{j != c} Phi((u[c] + s[c] * grid[i] - u[j]) / s[j]) for i < g; values: g
 * doubles of scratch. */
static void integrand(const double *u, const double *s, Py_ssize_t k, Py_ssize_t c,
                      const double *grid, Py_ssize_t g, double *values, double *out) {
    const double uc = u[c], sc = s[c];
    for (Py_ssize_t i = 0; i < g; i++) {
        double spread = sc * grid[i];
        values[i] = uc + spread;
        out[i] = 1.0;
    }
    for (Py_ssize_t j = 0; j < k; j++) {
        if (j == c)
            continue;
        const double uj = u[j], sj = s[j];
        for (Py_ssize_t i = 0; i < g; i++) {
            if (out[i] == 0.0)
                continue;
            double z = (values[i] - uj) / sj;
            if (z >= ONE_FROM)
                continue;
            out[i] *= ndtr_fn(z, 0);
        }
    }
}

/* P(arm c's sample is the largest): min(1, sum_i w[i] * integrand[i]), in grid order, with
 * each spread at least 1e-12 (the numpy path's np.maximum(sd, 1e-12)); 1 for one arm.
 * scratch: k + 2 g doubles. */
static double argmax_probability(const double *u, const double *sd, Py_ssize_t k,
                                 Py_ssize_t c, const double *grid, const double *w,
                                 Py_ssize_t g, double *scratch) {
    if (k == 1)
        return 1.0;
    double *s = scratch, *values = scratch + k, *p = scratch + k + g;
    for (Py_ssize_t j = 0; j < k; j++)
        s[j] = sd[j] < 1e-12 ? 1e-12 : sd[j]; /* NaN stays NaN, as np.maximum */
    integrand(u, s, k, c, grid, g, values, p);
    double total = 0.0;
    for (Py_ssize_t i = 0; i < g; i++)
        total += w[i] * p[i];
    return total < 1.0 ? total : 1.0; /* Python's min(1.0, total) */
}

static PyObject *product(PyObject *self, PyObject *args) {
    PyObject *u_obj, *s_obj, *grid_obj, *out_obj;
    Py_ssize_t c;
    Py_buffer u, s, grid, out;
    if (!PyArg_ParseTuple(args, "OOnOO", &u_obj, &s_obj, &c, &grid_obj, &out_obj))
        return NULL;
    if (get_buf(u_obj, &u, 0, "d", 8, "utility") < 0)
        return NULL;
    if (get_buf(s_obj, &s, 0, "d", 8, "s") < 0)
        goto fail_u;
    if (get_buf(grid_obj, &grid, 0, "d", 8, "grid") < 0)
        goto fail_s;
    if (get_buf(out_obj, &out, 1, "d", 8, "out") < 0)
        goto fail_grid;
    Py_ssize_t k = u.len / 8, g = grid.len / 8;
    if (s.len / 8 != k || out.len / 8 != g || c < 0 || c >= k) {
        PyErr_SetString(PyExc_ValueError, "shapes: utility and s (K), grid and out (G), 0 <= c < K");
        goto fail;
    }
    const double *uu = (const double *)u.buf, *ss = (const double *)s.buf;
    const double *gg = (const double *)grid.buf;
    double *p = (double *)out.buf;
    double *values = PyMem_Malloc(sizeof(double) * (g ? g : 1));
    if (values == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    integrand(uu, ss, k, c, gg, g, values, p);
    PyMem_Free(values);
    PyBuffer_Release(&out);
    PyBuffer_Release(&grid);
    PyBuffer_Release(&s);
    PyBuffer_Release(&u);
    Py_RETURN_NONE;
fail:
    PyBuffer_Release(&out);
fail_grid:
    PyBuffer_Release(&grid);
fail_s:
    PyBuffer_Release(&s);
fail_u:
    PyBuffer_Release(&u);
    return NULL;
}

static PyObject *probability(PyObject *self, PyObject *args) {
    PyObject *u_obj, *s_obj, *grid_obj, *w_obj;
    Py_ssize_t c;
    Py_buffer u, s, grid, w;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "OOnOO", &u_obj, &s_obj, &c, &grid_obj, &w_obj))
        return NULL;
    if (get_buf(u_obj, &u, 0, "d", 8, "utility") < 0)
        return NULL;
    if (get_buf(s_obj, &s, 0, "d", 8, "sd") < 0)
        goto fail_u;
    if (get_buf(grid_obj, &grid, 0, "d", 8, "grid") < 0)
        goto fail_s;
    if (get_buf(w_obj, &w, 0, "d", 8, "weights") < 0)
        goto fail_grid;
    Py_ssize_t k = u.len / 8, g = grid.len / 8;
    if (s.len / 8 != k || w.len / 8 != g || c < 0 || c >= k) {
        PyErr_SetString(PyExc_ValueError,
                        "shapes: utility and sd (K), grid and weights (G), 0 <= c < K");
        goto fail;
    }
    double *scratch = PyMem_Malloc(sizeof(double) * (k + 2 * g));
    if (scratch == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    double prob = argmax_probability((const double *)u.buf, (const double *)s.buf, k, c,
                                     (const double *)grid.buf, (const double *)w.buf, g,
                                     scratch);
    PyMem_Free(scratch);
    result = PyFloat_FromDouble(prob);
fail:
    PyBuffer_Release(&w);
fail_grid:
    PyBuffer_Release(&grid);
fail_s:
    PyBuffer_Release(&s);
fail_u:
    PyBuffer_Release(&u);
    return result;
}

/* The generator's draws. numpy's Generator.standard_normal(K) and .random() are, under the
 * bit generator's lock, one call each of numpy's C functions random_standard_normal_fill and
 * random_standard_uniform_fill on the bit generator's state (numpy/random/_common.pyx,
 * double_fill). Where numpy's _generator module exports the two (its Linux wheels do; found
 * with dlsym when this module is imported), they are called here the same way, on the same
 * state under the same lock: the same numbers, without the generator methods' Python and
 * Cython layers, which a decision after a pause pays ~60 and ~35 us for (benchmarks/README.md,
 * sixth session). Elsewhere, or for a subclass of Generator, the methods themselves are
 * called. rng.integers(0, n) (the uniform floor draw, a few % of decisions) is always the
 * method. */
typedef struct {
    void *state;
    uint64_t (*next_uint64)(void *st);
    uint32_t (*next_uint32)(void *st);
    double (*next_double)(void *st);
    uint64_t (*next_raw)(void *st);
} bitgen_t; /* numpy/random/bitgen.h */
typedef void (*fill_t)(bitgen_t *state, Py_ssize_t n, double *out);
static fill_t normal_fill = NULL, uniform_fill = NULL;
static PyObject *generator_type = NULL;
static int direct = 1; /* set_direct(False): the methods always (the tests compare both) */

typedef struct {
    PyObject *rng, *bitgen, *lock; /* bitgen, lock: owned references, or NULL (the methods) */
    bitgen_t *state;
} draws_t;

static int draws_open(draws_t *d, PyObject *rng) {
    d->rng = rng;
    d->bitgen = d->lock = NULL;
    d->state = NULL;
    if (!direct || normal_fill == NULL || (PyObject *)Py_TYPE(rng) != generator_type)
        return 0;
    PyObject *bg = PyObject_GetAttrString(rng, "bit_generator");
    if (bg == NULL)
        return -1;
    PyObject *cap = PyObject_GetAttrString(bg, "capsule");
    PyObject *lock = cap == NULL ? NULL : PyObject_GetAttrString(bg, "lock");
    bitgen_t *state = lock == NULL ? NULL : PyCapsule_GetPointer(cap, "BitGenerator");
    Py_XDECREF(cap); /* the bit generator holds the state the capsule points to */
    if (state == NULL) {
        Py_XDECREF(lock);
        Py_DECREF(bg);
        return -1;
    }
    d->bitgen = bg;
    d->lock = lock;
    d->state = state;
    return 0;
}

static void draws_close(draws_t *d) {
    Py_XDECREF(d->lock);
    Py_XDECREF(d->bitgen);
}

/* f(state, n, out) under the generator's lock (an RLock: acquire waits with the GIL
 * released, as numpy's `with lock`). */
static int locked_fill(draws_t *d, fill_t f, Py_ssize_t n, double *out) {
    PyObject *r = PyObject_CallMethod(d->lock, "acquire", NULL);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    f(d->state, n, out);
    r = PyObject_CallMethod(d->lock, "release", NULL);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* rng.standard_normal(n), into out. */
static int draw_normals(draws_t *d, Py_ssize_t n, double *out) {
    if (d->state != NULL)
        return locked_fill(d, normal_fill, n, out);
    PyObject *z = PyObject_CallMethod(d->rng, "standard_normal", "n", n);
    if (z == NULL)
        return -1;
    Py_buffer zb;
    if (get_buf(z, &zb, 0, "d", 8, "standard_normal(K)") < 0) {
        Py_DECREF(z);
        return -1;
    }
    int ok = zb.len == n * 8;
    if (ok)
        memcpy(out, zb.buf, n * 8);
    else
        PyErr_SetString(PyExc_ValueError, "standard_normal(K) gave another length");
    PyBuffer_Release(&zb);
    Py_DECREF(z);
    return ok ? 0 : -1;
}

/* rng.random() */
static int draw_double(draws_t *d, double *out) {
    if (d->state != NULL)
        return locked_fill(d, uniform_fill, 1, out);
    PyObject *r = PyObject_CallMethod(d->rng, "random", NULL);
    if (r == NULL)
        return -1;
    *out = PyFloat_AsDouble(r);
    Py_DECREF(r);
    return (*out == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

/* rng.integers(0, n) */
static int draw_index(draws_t *d, Py_ssize_t n, Py_ssize_t *out) {
    PyObject *r = PyObject_CallMethod(d->rng, "integers", "nn", (Py_ssize_t)0, n);
    if (r == NULL)
        return -1;
    *out = PyNumber_AsSsize_t(r, PyExc_OverflowError);
    Py_DECREF(r);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* -u[a] before -u[b] in numpy's ascending order (NaN last): the ranking's stable sort key. */
static int before(double a, double b) {
    return a < b || (b != b && a == a);
}

static PyObject *choose(PyObject *self, PyObject *args) {
    PyObject *u_obj, *s_obj, *e_obj, *rng, *grid_obj, *w_obj, *score_obj, *r_obj;
    double pfloor, fmass, prune;
    Py_buffer u, s, e, grid, w, sc, rk;
    PyObject *result = NULL;
    double *scratch = NULL;
    draws_t draws = {NULL, NULL, NULL, NULL};
    if (!PyArg_ParseTuple(args, "OOOOdddOOOO", &u_obj, &s_obj, &e_obj, &rng, &pfloor, &fmass,
                          &prune, &grid_obj, &w_obj, &score_obj, &r_obj))
        return NULL;
    int all = e_obj == Py_None;
    if (get_buf(u_obj, &u, 0, "d", 8, "utility") < 0)
        return NULL;
    if (get_buf(s_obj, &s, 0, "d", 8, "sd") < 0)
        goto fail_u;
    if (!all && get_buf(e_obj, &e, 0, "?", 1, "eligible") < 0)
        goto fail_s;
    if (get_buf(grid_obj, &grid, 0, "d", 8, "grid") < 0)
        goto fail_e;
    if (get_buf(w_obj, &w, 0, "d", 8, "weights") < 0)
        goto fail_grid;
    if (get_buf(score_obj, &sc, 1, "d", 8, "score") < 0)
        goto fail_w;
    if (get_buf(r_obj, &rk, 1, "q", 8, "ranking") < 0)
        goto fail_sc;
    Py_ssize_t k = u.len / 8, g = grid.len / 8;
    if (s.len / 8 != k || (!all && e.len != k) || w.len / 8 != g || sc.len / 8 != k
        || rk.len / 8 != k) {
        PyErr_SetString(PyExc_ValueError, "shapes: utility, sd, eligible, score and ranking "
                                          "(K), grid and weights (G)");
        goto fail;
    }
    const double *uu = (const double *)u.buf, *ss = (const double *)s.buf;
    const char *ok = all ? NULL : (const char *)e.buf;
    double *score = (double *)sc.buf;
    Py_ssize_t *ranking = (Py_ssize_t *)rk.buf;
    /* scratch: the eligible arms' utilities, spreads and open flags (3 K), the integral's and
     * the floor draw's (K + 2 G); their indices go into ranking, overwritten last. */
    scratch = PyMem_Malloc(sizeof(double) * (4 * k + 2 * g + 1));
    if (scratch == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    double *ue = scratch, *se = scratch + k, *open = scratch + 2 * k, *work = scratch + 3 * k;
    Py_ssize_t *idx = ranking, n = 0;
    for (Py_ssize_t i = 0; i < k; i++) {
        if (all || ok[i]) {
            idx[n] = i;
            ue[n] = uu[i];
            se[n] = ss[i];
            n++;
        }
    }
    if (n == 0) { /* NoEligibleArm, raised by the caller; nothing drawn */
        result = Py_NewRef(Py_None);
        goto fail;
    }

    /* The floor (LinearPolicy._mass and _floor), a function of utilities and spreads only:
     * mass, and f_open where open[j] (1.0), f_low elsewhere (0.0); not pruned: all f_open. */
    double mass = 0.0, f_open = 0.0, f_low = 0.0;
    int pruned = 0;
    if (n > 1) {
        double per_model = pfloor * (double)n;
        per_model = 1.0 < per_model ? 1.0 : per_model;
        mass = fmass <= 0 ? per_model : (per_model > fmass ? per_model : fmass);
        f_open = f_low = mass / (double)n;
        if (fmass > 0 && prune > 0) {
            /* np.maximum.reduce(u - zs): the largest lower bound, NaN if any is NaN */
            double top = ue[0] - prune * se[0];
            for (Py_ssize_t j = 1; j < n && top == top; j++) {
                double zs = prune * se[j];
                double lower = ue[j] - zs;
                if (lower > top || lower != lower)
                    top = lower;
            }
            Py_ssize_t n_open = 0;
            for (Py_ssize_t j = 0; j < n; j++) {
                double zs = prune * se[j];
                open[j] = ue[j] + zs >= top;
                n_open += open[j] != 0.0;
            }
            if (n_open == 0) {
                PyErr_SetString(PyExc_ZeroDivisionError, "float division by zero");
                goto fail;
            }
            if (n_open < n) {
                pruned = 1;
                f_low = pfloor < 1.0 / (double)n ? pfloor : 1.0 / (double)n;
                f_open = (mass - f_low * (double)(n - n_open)) / (double)n_open;
            }
        }
    }

    /* The sample: utility + sd * z, z = rng.standard_normal(K). */
    if (draws_open(&draws, rng) < 0 || draw_normals(&draws, k, score) < 0)
        goto fail;
    for (Py_ssize_t i = 0; i < k; i++) {
        double spread = ss[i] * score[i];
        score[i] = uu[i] + spread;
    }
    /* np.where(eligible, score, -inf).argmax(): the first largest, a NaN first of all. */
    Py_ssize_t chosen = 0, c;
    double best = (all || ok[0]) ? score[0] : -INFINITY;
    if (best == best) {
        for (Py_ssize_t i = 1; i < k; i++) {
            double v = (all || ok[i]) ? score[i] : -INFINITY;
            if (v != v) {
                chosen = i;
                break;
            }
            if (v > best) {
                best = v;
                chosen = i;
            }
        }
    }

    /* The exploration draw: with probability mass, an arm from the floor's own law. */
    int explored = 0;
    if (mass > 0) {
        double r;
        if (draw_double(&draws, &r) < 0)
            goto fail;
        explored = r < mass;
    }
    if (explored && !pruned) { /* base._uniform_index */
        if (draw_index(&draws, n, &c) < 0)
            goto fail;
        if (c < 0 || c >= n) {
            PyErr_SetString(PyExc_IndexError, "rng.integers(0, n) out of range");
            goto fail;
        }
        chosen = idx[c];
    } else if (explored) { /* base._weighted_index: cumsum of f / mass, / its last, searchsorted */
        double *cdf = work, acc = 0.0, r;
        for (Py_ssize_t j = 0; j < n; j++) {
            acc += (open[j] != 0.0 ? f_open : f_low) / mass;
            cdf[j] = acc;
        }
        double last = cdf[n - 1];
        for (Py_ssize_t j = 0; j < n; j++)
            cdf[j] /= last;
        if (draw_double(&draws, &r) < 0)
            goto fail;
        c = 0;
        while (c < n && !(cdf[c] > r)) /* side="right": the first entry above r */
            c++;
        if (c == n) {
            PyErr_SetString(PyExc_IndexError, "the floor's draw fell beyond its last arm");
            goto fail;
        }
        chosen = idx[c];
    } else { /* the greedy arm's place among the eligible */
        c = 0;
        while (c < n && idx[c] != chosen)
            c++;
        if (c == n) { /* every eligible sample -inf: argmax fell on an ineligible arm */
            PyErr_SetString(PyExc_RuntimeError, "no eligible arm has a finite sample");
            goto fail;
        }
    }
    double floor_c = pruned && open[c] == 0.0 ? f_low : f_open;
    double p_policy = argmax_probability(ue, se, n, c, (const double *)grid.buf,
                                         (const double *)w.buf, g, work);
    double propensity = (1.0 - mass) * p_policy + floor_c;

    /* The ranking: chosen, then the others by utility (descending), ties in index order;
     * an insertion sort of the eligible indices (stable), written over idx. */
    for (Py_ssize_t j = 1; j < n; j++) {
        Py_ssize_t a = idx[j];
        double key = -uu[a];
        Py_ssize_t i = j;
        while (i > 0 && before(key, -uu[idx[i - 1]])) {
            idx[i] = idx[i - 1];
            i--;
        }
        idx[i] = a;
    }
    Py_ssize_t at = n - 1;
    for (Py_ssize_t j = n - 1; j >= 0; j--) /* shift those before chosen right by one */
        if (idx[j] != chosen)
            idx[at--] = idx[j];
    idx[0] = chosen;

    result = Py_BuildValue("ndNn", chosen, propensity, PyBool_FromLong(explored), n);
fail:
    draws_close(&draws);
    PyMem_Free(scratch);
    PyBuffer_Release(&rk);
fail_sc:
    PyBuffer_Release(&sc);
fail_w:
    PyBuffer_Release(&w);
fail_grid:
    PyBuffer_Release(&grid);
fail_e:
    if (!all)
        PyBuffer_Release(&e);
fail_s:
    PyBuffer_Release(&s);
fail_u:
    PyBuffer_Release(&u);
    return result;
}

/* set_direct(flag) -> whether numpy's fill functions are called directly from now on (flag
 * and found); the tests compare both ways. */
static PyObject *set_direct(PyObject *self, PyObject *arg) {
    int flag = PyObject_IsTrue(arg);
    if (flag < 0)
        return NULL;
    direct = flag;
    return PyBool_FromLong(direct && normal_fill != NULL);
}

static PyMethodDef methods[] = {
    {"product", product, METH_VARARGS, "The propensity integrand at every grid point."},
    {"probability", probability, METH_VARARGS, "P(an arm's sample is the largest)."},
    {"choose", choose, METH_VARARGS, "The untruncated Thompson decision, floor included."},
    {"set_direct", set_direct, METH_O, "Call numpy's draw functions directly (when found)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_argmax", NULL, -1, methods};

/* numpy's random_standard_normal_fill and random_standard_uniform_fill, from the loaded
 * numpy.random._generator module, and the Generator type; left NULL (the methods are called)
 * when any is not found. */
static void find_numpy_draws(void) {
    PyObject *mod = PyImport_ImportModule("numpy.random._generator");
    PyObject *file = mod == NULL ? NULL : PyObject_GetAttrString(mod, "__file__");
    PyObject *type = mod == NULL ? NULL : PyObject_GetAttrString(mod, "Generator");
    const char *path = file == NULL ? NULL : PyUnicode_AsUTF8(file);
    void *lib = path == NULL ? NULL : dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (lib != NULL && type != NULL) {
        fill_t nf = (fill_t)dlsym(lib, "random_standard_normal_fill");
        fill_t uf = (fill_t)dlsym(lib, "random_standard_uniform_fill");
        if (nf != NULL && uf != NULL) {
            normal_fill = nf;
            uniform_fill = uf;
            generator_type = Py_NewRef(type); /* kept for the process's life */
        }
    }
    /* the handle is not closed: the module stays loaded, and the pointers are used */
    Py_XDECREF(type);
    Py_XDECREF(file);
    Py_XDECREF(mod);
    PyErr_Clear();
}

PyMODINIT_FUNC PyInit__argmax(void) {
    /* scipy's double-precision ndtr, the function its ufunc calls; ImportError when this
     * scipy does not export it (thompson.py then keeps its numpy path). */
    PyObject *cs = PyImport_ImportModule("scipy.special.cython_special");
    if (cs == NULL)
        return NULL;
    PyObject *capi = PyObject_GetAttrString(cs, "__pyx_capi__");
    Py_DECREF(cs);
    if (capi == NULL)
        return NULL;
    PyObject *cap = PyDict_Check(capi) ? PyDict_GetItemString(capi, "__pyx_fuse_1ndtr") : NULL;
    const char *name = cap != NULL ? PyCapsule_GetName(cap) : NULL;
    if (cap == NULL || name == NULL || strncmp(name, "double (double", 14) != 0) {
        Py_DECREF(capi);
        PyErr_Clear();
        PyErr_SetString(PyExc_ImportError,
                        "scipy.special.cython_special exports no double ndtr(double)");
        return NULL;
    }
    ndtr_fn = (ndtr_t)PyCapsule_GetPointer(cap, name);
    Py_DECREF(capi);
    if (ndtr_fn == NULL)
        return NULL;
    find_numpy_draws();
    return PyModule_Create(&module);
}
