/* The integrand of Thompson sampling's propensity, in one call: the C twin of the numpy path
 * in policy/thompson.py (_argmax_probability), which stays the definition.
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
 * Why it exists (issue 19): at K = 10 the numpy path's ~10 array operations around 1,610 ndtr
 * calls cost about as much as the calls themselves; see the module doc of policy/thompson.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "_buffers.h"

typedef double (*ndtr_t)(double, int);
static ndtr_t ndtr_fn = NULL;

/* Phi(z) is exactly 1.0 from here on (scipy's ndtr, checked on a fine grid up to 40 and at
 * +inf in the tests); such a factor is skipped. */
#define ONE_FROM 8.5

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
    const double uc = uu[c], sc = ss[c];
    for (Py_ssize_t i = 0; i < g; i++) {
        double spread = sc * gg[i];
        values[i] = uc + spread;
        p[i] = 1.0;
    }
    for (Py_ssize_t j = 0; j < k; j++) {
        if (j == c)
            continue;
        const double uj = uu[j], sj = ss[j];
        for (Py_ssize_t i = 0; i < g; i++) {
            if (p[i] == 0.0)
                continue;
            double z = (values[i] - uj) / sj;
            if (z >= ONE_FROM)
                continue;
            p[i] *= ndtr_fn(z, 0);
        }
    }
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

static PyMethodDef methods[] = {
    {"product", product, METH_VARARGS, "The propensity integrand at every grid point."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_argmax", NULL, -1, methods};

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
    return PyModule_Create(&module);
}
