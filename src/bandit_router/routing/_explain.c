/* A decision's catalog prices and its per-model explanation, each in one call: the C twin of
 * routing/router.py's numpy path (_Lineup.cost_usd's vector expression; the concatenate,
 * round_columns, tolist and dict comprehension of Router.decide), which stays the definition
 * and gives the same bits (tests/routing/test_explain_native.py compares the two).
 *
 * cost(n_in, n_out, input_prices, output_prices, out)
 *   out[i] = (n_in * input_prices[i] + n_out * output_prices[i]) / 1e6, the same IEEE
 *   operations in the same order as the numpy path (no fused multiply-add:
 *   -ffp-contract=off); the counts are below 2**53, so converting them is exact.
 *
 * records(ids, keys, columns, scales, flags)
 *   {ids[i]: {keys[0]: columns[0][i], ..., keys[m - 1]: columns[m - 1][i], keys[m]: flags[i]}}
 *   columns: m contiguous float64 arrays of len(ids); scales: m floats, 0 for a column kept as
 *   it is, else 10**decimals: the value becomes rint(v * scale) / scale, what ndarray.round
 *   does (multiply, rint, divide); flags: a contiguous bool array, as Python bools.
 *
 * Why it exists (issue 19, eighth session, benchmarks/README.md): a decision that follows
 * another program's work (the decision benchmark's p99: the first decision after Vowpal
 * Wabbit's block) pays for every numpy call again: the first ufunc 25-33 us, concatenate
 * ~20 us, each later ufunc or tolist 4-6 us (measured after 200 VW decisions, K = 10). The
 * prices took three ufuncs and the explanation nine numpy calls plus a comprehension of K
 * dicts; here each is one call of a few microseconds.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

#include "../policy/_buffers.h"

static PyObject *cost(PyObject *self, PyObject *args) {
    double n_in, n_out;
    PyObject *in_obj, *out_p_obj, *out_obj;
    Py_buffer ib, pb, ob;
    if (!PyArg_ParseTuple(args, "ddOOO", &n_in, &n_out, &in_obj, &out_p_obj, &out_obj))
        return NULL;
    if (get_buf(in_obj, &ib, 0, "d", 8, "input_prices") < 0)
        return NULL;
    if (get_buf(out_p_obj, &pb, 0, "d", 8, "output_prices") < 0) {
        PyBuffer_Release(&ib);
        return NULL;
    }
    if (get_buf(out_obj, &ob, 1, "d", 8, "out") < 0) {
        PyBuffer_Release(&pb);
        PyBuffer_Release(&ib);
        return NULL;
    }
    const Py_ssize_t k = ib.len / 8;
    if (pb.len / 8 != k || ob.len / 8 != k) {
        PyErr_SetString(PyExc_ValueError, "input_prices, output_prices and out differ in length");
    } else {
        const double *a = (const double *)ib.buf, *b = (const double *)pb.buf;
        double *out = (double *)ob.buf;
        for (Py_ssize_t i = 0; i < k; i++) {
            double v = n_in * a[i];
            double w = n_out * b[i];
            v += w;
            out[i] = v / 1e6;
        }
    }
    PyBuffer_Release(&ob);
    PyBuffer_Release(&pb);
    PyBuffer_Release(&ib);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

#define MAX_COLUMNS 16

static PyObject *records(PyObject *self, PyObject *args) {
    PyObject *ids, *keys, *columns, *scales, *flags_obj;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O", &PyTuple_Type, &ids, &PyTuple_Type, &keys,
                          &PyTuple_Type, &columns, &PyTuple_Type, &scales, &flags_obj))
        return NULL;
    const Py_ssize_t k = PyTuple_GET_SIZE(ids), m = PyTuple_GET_SIZE(columns);
    if (m > MAX_COLUMNS || PyTuple_GET_SIZE(keys) != m + 1 || PyTuple_GET_SIZE(scales) != m) {
        PyErr_SetString(PyExc_ValueError,
                        "records: len(keys) must be len(columns) + 1 = len(scales) + 1 <= 17");
        return NULL;
    }
    Py_buffer cb[MAX_COLUMNS], fb;
    double scale[MAX_COLUMNS];
    Py_ssize_t got = 0;
    PyObject *result = NULL;
    if (get_buf(flags_obj, &fb, 0, "?", 1, "flags") < 0)
        return NULL;
    if (fb.len != k) {
        PyErr_SetString(PyExc_ValueError, "records: flags and ids differ in length");
        goto done;
    }
    for (; got < m; got++) {
        scale[got] = PyFloat_AsDouble(PyTuple_GET_ITEM(scales, got));
        if (scale[got] == -1.0 && PyErr_Occurred())
            goto done;
        if (get_buf(PyTuple_GET_ITEM(columns, got), &cb[got], 0, "d", 8, "column") < 0)
            goto done;
        if (cb[got].len / 8 != k) {
            PyErr_SetString(PyExc_ValueError, "records: a column and ids differ in length");
            got++;
            goto done;
        }
    }
    result = PyDict_New();
    if (result == NULL)
        goto done;
    const char *flag = (const char *)fb.buf;
    for (Py_ssize_t i = 0; i < k; i++) {
        PyObject *entry = PyDict_New();
        if (entry == NULL || PyDict_SetItem(result, PyTuple_GET_ITEM(ids, i), entry) < 0) {
            Py_XDECREF(entry);
            Py_CLEAR(result);
            goto done;
        }
        Py_DECREF(entry);  /* result holds it */
        for (Py_ssize_t j = 0; j < m; j++) {
            double v = ((const double *)cb[j].buf)[i];
            if (scale[j] != 0.0) {
                v *= scale[j];
                v = rint(v);
                v /= scale[j];
            }
            PyObject *num = PyFloat_FromDouble(v);
            if (num == NULL || PyDict_SetItem(entry, PyTuple_GET_ITEM(keys, j), num) < 0) {
                Py_XDECREF(num);
                Py_CLEAR(result);
                goto done;
            }
            Py_DECREF(num);
        }
        if (PyDict_SetItem(entry, PyTuple_GET_ITEM(keys, m), flag[i] ? Py_True : Py_False) < 0) {
            Py_CLEAR(result);
            goto done;
        }
    }
done:
    for (Py_ssize_t j = 0; j < got; j++)
        PyBuffer_Release(&cb[j]);
    PyBuffer_Release(&fb);
    return result;
}

static PyMethodDef methods[] = {
    {"cost", cost, METH_VARARGS, "Every candidate's catalog price of a call."},
    {"records", records, METH_VARARGS, "The per-model explanation of a decision."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_explain", NULL, -1, methods};

PyMODINIT_FUNC PyInit__explain(void) { return PyModule_Create(&module); }
