/* The counts behind a feature vector, in one call: the C twin of features/scan.py's numpy path.
 *
 * Built by `pip install` when a C compiler is there (hatch_build.py); features/scan.py falls
 * back to numpy otherwise, and tests/features/test_scan.py checks that both give identical
 * counts. Every constant (which bytes make words, which are digits, the markers) comes from
 * scan.py, so the definitions live in one place; only the hash arithmetic is written twice,
 * and it is integer arithmetic modulo 2**64, which both paths do exactly.
 *
 * scan(data, classes, code_markers, math_markers, block, max_ngram)
 *   data          lower-cased UTF-8 bytes
 *   classes       256 bytes: bit 1 word byte, 2 digit, 4 math symbol, 8 newline, 16 "?",
 *                 32 non-ASCII
 *   *_markers     tuples of bytes, counted without overlap like bytes.count
 *   block         writable float64 buffer (n_buckets) that receives the signed n-gram counts,
 *                 or None to count tokens only
 * returns (tokens, digits, math_symbols, newlines, questions, non_ascii, code, math)
 *
 * word_ids(text, limit, index, ids)
 *   the WordLlama featuriser's look-up (features/semantic.py): the words of
 *   text[:limit].split() (split where str.split splits: Py_UNICODE_ISSPACE), each looked up
 *   in the dict index (word -> row); writes the rows into the writable intp buffer ids and
 *   returns how many words there were, or None as soon as a word is not in index (the caller
 *   then takes its Python path, which adds the missing words). Same words, same order, same
 *   rows as the Python path; it only spares the list of words, the tuple of rows and their
 *   conversion to an array (measured in features/semantic.py).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define BASE 0x100000001B3ULL
#define BIGRAM_SALT 0x9E3779B97F4A7C15ULL

static inline uint64_t splitmix64(uint64_t h) {
    h ^= h >> 30;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 27;
    h *= 0x94D049BB133111EBULL;
    return h ^ (h >> 31);
}

#define MAX_MARKERS 64

typedef struct {
    const unsigned char *pat;
    Py_ssize_t len;
    Py_ssize_t next_ok;  /* where the next occurrence may start (no overlap, like bytes.count) */
    int group;           /* 0 code, 1 math */
    int next;            /* next marker with the same first byte, or -1 */
} Marker;

static int add_markers(PyObject *markers, int group, Marker *m, int *n_markers, int *head) {
    if (!PyTuple_Check(markers)) {
        PyErr_SetString(PyExc_TypeError, "markers must be a tuple of bytes");
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(markers); i++) {
        PyObject *item = PyTuple_GET_ITEM(markers, i);
        if (!PyBytes_Check(item) || PyBytes_GET_SIZE(item) == 0) {
            PyErr_SetString(PyExc_ValueError, "markers must be non-empty bytes");
            return -1;
        }
        if (*n_markers == MAX_MARKERS) {
            PyErr_SetString(PyExc_ValueError, "too many markers");
            return -1;
        }
        Marker *k = &m[*n_markers];
        k->pat = (const unsigned char *)PyBytes_AS_STRING(item);
        k->len = PyBytes_GET_SIZE(item);
        k->next_ok = 0;
        k->group = group;
        /* appended at the tail of its first byte's list (order does not change the counts) */
        k->next = head[k->pat[0]];
        head[k->pat[0]] = *n_markers;
        (*n_markers)++;
    }
    return 0;
}

/* Every marker's non-overlapping occurrences in one pass: at each byte only the markers that
 * start with it are compared. Leftmost-first and skipping past a match per marker is exactly
 * what bytes.count does for each marker on its own. */
static void count_markers(const unsigned char *b, Py_ssize_t n, Marker *m, int n_markers,
                          const int *head, long long *totals) {
    /* Prefilter: which first bytes start a one-byte marker, which two-byte prefixes a longer
     * one; most positions are rejected by one look-up. */
    unsigned char single[256] = {0};
    unsigned char pairs[65536 / 8] = {0};
    for (int j = 0; j < n_markers; j++) {
        if (m[j].len == 1) {
            single[m[j].pat[0]] = 1;
        } else {
            unsigned p = m[j].pat[0] | (unsigned)m[j].pat[1] << 8;
            pairs[p >> 3] |= (unsigned char)(1u << (p & 7));
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned p = b[i] | (i + 1 < n ? (unsigned)b[i + 1] << 8 : 0u);
        if (!single[b[i]] && !(i + 1 < n && (pairs[p >> 3] >> (p & 7) & 1))) continue;
        for (int j = head[b[i]]; j >= 0; j = m[j].next) {
            Marker *k = &m[j];
            if (i >= k->next_ok && i + k->len <= n &&
                (k->len == 1 || (b[i + 1] == k->pat[1] &&
                                 memcmp(b + i, k->pat, (size_t)k->len) == 0))) {
                totals[k->group]++;
                k->next_ok = i + k->len;
            }
        }
    }
}

static PyObject *scan(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer data, classes;
    PyObject *code_markers, *math_markers, *block_obj;
    int max_ngram;
    if (!PyArg_ParseTuple(args, "y*y*OOOi", &data, &classes, &code_markers, &math_markers,
                          &block_obj, &max_ngram))
        return NULL;
    PyObject *result = NULL;
    Py_buffer block = {0};
    int have_block = 0;
    uint64_t *tokens = NULL;
    if (classes.len != 256) {
        PyErr_SetString(PyExc_ValueError, "classes must be 256 bytes");
        goto done;
    }
    if (block_obj != Py_None) {
        if (PyObject_GetBuffer(block_obj, &block, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS |
                               PyBUF_FORMAT) < 0)
            goto done;
        have_block = 1;
        if (block.itemsize != 8 || block.format == NULL || strcmp(block.format, "d") != 0 ||
            block.len < 8) {
            PyErr_SetString(PyExc_ValueError, "block must be a non-empty float64 buffer");
            goto done;
        }
    }
    const unsigned char *b = (const unsigned char *)data.buf;
    const unsigned char *cls = (const unsigned char *)classes.buf;
    Py_ssize_t n = data.len;

    long long digits = 0, symbols = 0, newlines = 0, questions = 0, non_ascii = 0;
    long long code = 0, math = 0;
    Py_ssize_t n_tokens = 0;
    if (have_block && n > 0) {
        /* a word needs a byte and a separator: at most n / 2 + 1 of them; room for two
         * arrays, the unigram hashes and the n-gram chain */
        tokens = PyMem_Malloc(2 * sizeof(uint64_t) * (size_t)(n / 2 + 1));
        if (tokens == NULL) {
            PyErr_NoMemory();
            goto done;
        }
    }
#define COUNT(c)                     \
    do {                             \
        digits += ((c) >> 1) & 1;    \
        symbols += ((c) >> 2) & 1;   \
        newlines += ((c) >> 3) & 1;  \
        questions += ((c) >> 4) & 1; \
        non_ascii += ((c) >> 5) & 1; \
    } while (0)
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned char c = cls[b[i]];
        COUNT(c);
        if (!(c & 1)) {
            i++;
            continue;
        }
        /* A word: its hash sum (b + 1) * BASE**t over its bytes, mod 2**64, only when a block
         * is asked (the WordLlama featuriser counts the words and needs no hash). */
        Py_ssize_t start = i;
        uint64_t h = 0, pw = 1;
        for (;;) {
            if (tokens != NULL) {
                h += ((uint64_t)b[i] + 1) * pw;
                pw *= BASE;
            }
            i++;
            if (i >= n || !(cls[b[i]] & 1))
                break;
            c = cls[b[i]];
            COUNT(c);
        }
        if (tokens != NULL)
            tokens[n_tokens] = splitmix64(h ^ (uint64_t)(i - start));
        n_tokens++;
    }
#undef COUNT
    {
        Marker markers[MAX_MARKERS];
        int head[256], n_markers = 0;
        long long totals[2] = {0, 0};
        for (int c = 0; c < 256; c++) head[c] = -1;
        if (add_markers(code_markers, 0, markers, &n_markers, head) < 0) goto done;
        if (add_markers(math_markers, 1, markers, &n_markers, head) < 0) goto done;
        count_markers(b, n, markers, n_markers, head, totals);
        code = totals[0];
        math = totals[1];
    }

    if (have_block && n_tokens > 0) {
        double *out = (double *)block.buf;
        uint64_t n_buckets = (uint64_t)(block.len / 8);
        int pow2 = (n_buckets & (n_buckets - 1)) == 0;
        uint64_t mask = n_buckets - 1;
#define ADD(hash)                                                        \
        do {                                                             \
            uint64_t hh = (hash);                                        \
            uint64_t slot = pow2 ? (hh & mask) : (hh % n_buckets);       \
            out[slot] += (hh >> 63) ? -1.0 : 1.0;                        \
        } while (0)
        uint64_t *chain = tokens + (n / 2 + 1);
        for (Py_ssize_t t = 0; t < n_tokens; t++) {
            ADD(tokens[t]);
            chain[t] = tokens[t];
        }
        /* g_k[t] = splitmix64(g_{k-1}[t] * SALT + token[t + k - 1]), in place over t. */
        for (int k = 2; k <= max_ngram && n_tokens >= k; k++) {
            for (Py_ssize_t t = 0; t + k <= n_tokens; t++) {
                chain[t] = splitmix64(chain[t] * BIGRAM_SALT + tokens[t + k - 1]);
                ADD(chain[t]);
            }
        }
#undef ADD
    }
    result = Py_BuildValue("(nLLLLLLL)", n_tokens, digits, symbols, newlines, questions,
                           non_ascii, code, math);
done:
    PyMem_Free(tokens);
    if (have_block) PyBuffer_Release(&block);
    PyBuffer_Release(&data);
    PyBuffer_Release(&classes);
    return result;
}

static PyObject *word_ids(PyObject *self, PyObject *args) {
    PyObject *text, *index, *ids_obj;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "UnO!O", &text, &limit, &PyDict_Type, &index, &ids_obj))
        return NULL;
    Py_buffer ids;
    if (PyObject_GetBuffer(ids_obj, &ids, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
        return NULL;
    if (ids.itemsize != (Py_ssize_t)sizeof(Py_ssize_t)) {
        PyBuffer_Release(&ids);
        PyErr_SetString(PyExc_TypeError, "ids must be a contiguous intp array");
        return NULL;
    }
    Py_ssize_t cap = ids.len / (Py_ssize_t)sizeof(Py_ssize_t);
    Py_ssize_t *out = (Py_ssize_t *)ids.buf;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (limit >= 0 && limit < n)
        n = limit;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t count = 0, i = 0;
    PyObject *result = NULL;
    while (i < n) {
        while (i < n && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i)))
            i++;
        if (i >= n)
            break;
        Py_ssize_t j = i + 1;
        while (j < n && !Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, j)))
            j++;
        if (count >= cap) {
            PyErr_SetString(PyExc_ValueError, "ids is too short for the words of text");
            goto done;
        }
        PyObject *word = PyUnicode_Substring(text, i, j);
        if (word == NULL)
            goto done;
        PyObject *row = PyDict_GetItemWithError(index, word);  /* borrowed */
        Py_DECREF(word);
        if (row == NULL) {
            if (!PyErr_Occurred()) {
                result = Py_None;
                Py_INCREF(result);
            }
            goto done;
        }
        Py_ssize_t r = PyLong_AsSsize_t(row);
        if (r == -1 && PyErr_Occurred())
            goto done;
        out[count++] = r;
        i = j;
    }
    result = PyLong_FromSsize_t(count);
done:
    PyBuffer_Release(&ids);
    return result;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, "Counts of one prompt's bytes (see features/scan.py)."},
    {"word_ids", word_ids, METH_VARARGS,
     "Rows of text[:limit].split() in a word index, or None if one is missing."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_scan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__scan(void) { return PyModule_Create(&module); }
