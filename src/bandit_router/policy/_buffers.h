/* One buffer check for the policy's C helpers (_argmax.c, _predict.c): a C-contiguous buffer
 * of the given struct format and item size, writable when asked; else a TypeError naming the
 * argument and the dtype it must be. Included, not linked: each helper is its own module. */
#ifndef BANDIT_ROUTER_POLICY_BUFFERS_H
#define BANDIT_ROUTER_POLICY_BUFFERS_H

#include <Python.h>
#include <string.h>

static int get_buf(PyObject *obj, Py_buffer *view, int writable, const char *format,
                   Py_ssize_t itemsize, const char *what) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0)
        return -1;
    /* int64 is "l" on LP64 and "q" where long is 32 bits. */
    int ok = view->itemsize == itemsize && view->format != NULL
             && (strcmp(view->format, format) == 0
                 || (itemsize == 8 && format[0] == 'q' && strcmp(view->format, "l") == 0));
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "%s must be a contiguous %s array", what,
                     format[0] == 'd' ? "float64" : format[0] == 'f' ? "float32"
                     : format[0] == '?' ? "bool" : "int64");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

#endif
