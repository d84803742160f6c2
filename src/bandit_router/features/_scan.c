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
 * featurise(text, max_bytes, classes, code_markers, math_markers, index, rows, x)
 *   the WordLlama featuriser's whole vector but the caller block, in one call: the scan
 *   above, the structure signals, the look-up and the normalised row sum below (see there)
 *
 * WordIndex
 *   the WordLlama featuriser's word -> row index (features/semantic.py), a twin of its dict:
 *   add(words, first) maps words[i] to row first + i; lookup(text, limit, ids) splits
 *   text[:limit] where str.split splits (Py_UNICODE_ISSPACE), hashes each word's code points
 *   as it scans them and writes the rows into the writable intp buffer ids; it returns how
 *   many words there were, or None as soon as one is not in the index (the caller then takes
 *   its Python path, which adds the missing words). Same words, same order, same rows as the
 *   dict; no str object is made per word (measured in features/semantic.py).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
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
    int group;           /* 0 code, 1 math */
    int next;            /* next marker with the same first byte, or -1 */
} Marker;

/* The markers' tables, built from the two tuples of the last call and kept while the same
 * tuples come back (scan.py passes module constants): the markers, the list of those that
 * start with each byte, and the prefilter (one bit per pair of bytes (b[i], b[i + 1]) that
 * can start a marker; a one-byte marker sets every pair it starts). Built and read under the
 * GIL only. */
typedef struct {
    PyObject *code, *math;  /* strong references: the tuples the tables were built from */
    Marker m[MAX_MARKERS];
    int n;
    int head[256];
    unsigned char pairs[65536 / 8];
} MarkerTable;

static MarkerTable markers_cache;

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
        k->group = group;
        /* appended at the tail of its first byte's list (order does not change the counts) */
        k->next = head[k->pat[0]];
        head[k->pat[0]] = *n_markers;
        (*n_markers)++;
    }
    return 0;
}

static MarkerTable *marker_table(PyObject *code, PyObject *math) {
    MarkerTable *t = &markers_cache;
    if (t->code == code && t->math == math)
        return t;
    Py_CLEAR(t->code);
    Py_CLEAR(t->math);
    t->n = 0;
    for (int c = 0; c < 256; c++) t->head[c] = -1;
    memset(t->pairs, 0, sizeof t->pairs);
    if (add_markers(code, 0, t->m, &t->n, t->head) < 0 ||
        add_markers(math, 1, t->m, &t->n, t->head) < 0) {
        t->n = 0;
        for (int c = 0; c < 256; c++) t->head[c] = -1;
        return NULL;
    }
    for (int j = 0; j < t->n; j++) {
        unsigned first = t->m[j].pat[0];
        if (t->m[j].len == 1) {
            for (unsigned second = 0; second < 256; second++) {
                unsigned p = first | second << 8;
                t->pairs[p >> 3] |= (unsigned char)(1u << (p & 7));
            }
        } else {
            unsigned p = first | (unsigned)t->m[j].pat[1] << 8;
            t->pairs[p >> 3] |= (unsigned char)(1u << (p & 7));
        }
    }
    Py_INCREF(code);
    Py_INCREF(math);
    t->code = code;
    t->math = math;
    return t;
}

/* The markers that start at b[i] (the prefilter passed): leftmost-first, and skipping past
 * a match per marker, is exactly what bytes.count does for each marker on its own. */
static inline void markers_at(const MarkerTable *t, const unsigned char *b, Py_ssize_t n,
                              Py_ssize_t i, Py_ssize_t *next_ok, long long *totals) {
    for (int j = t->head[b[i]]; j >= 0; j = t->m[j].next) {
        const Marker *k = &t->m[j];
        if (i >= next_ok[j] && i + k->len <= n &&
            (k->len == 1 || (b[i + 1] == k->pat[1] &&
                             memcmp(b + i, k->pat, (size_t)k->len) == 0))) {
            totals[k->group]++;
            next_ok[j] = i + k->len;
        }
    }
}

#define MAX_NGRAM_STACK 16

/* What one pass over a prompt's lower-cased bytes counts (scan.py's Counts, in its order). */
enum { TOKENS, DIGITS, SYMBOLS, NEWLINES, QUESTIONS, NON_ASCII, CODE, MATH, N_COUNTS };

/* One pass over the bytes: their histogram (the byte counts are read from it through the
 * classes at the end), the word starts (a word byte after a non-word byte) when
 * ``count_words``, and the markers' prefilter on the pair (b[i], b[i + 1]), the last byte
 * paired with 0. Inlined with a constant ``count_words``, so each caller gets its own loop. */
static inline __attribute__((always_inline)) void
byte_pass(const unsigned char *b, Py_ssize_t n, const unsigned char *cls,
          const MarkerTable *table, int count_words, long long *out) {
    Py_ssize_t hist[256] = {0};
    Py_ssize_t next_ok[MAX_MARKERS] = {0};  /* per marker: where its next match may start */
    long long totals[2] = {0, 0};
    Py_ssize_t words = 0;
    unsigned prev = 0;
    const unsigned char *pairs = table->pairs;
#define BYTE(i, next)                                                                     \
    do {                                                                                  \
        unsigned c_ = b[i];                                                               \
        hist[c_]++;                                                                       \
        if (count_words) {                                                                \
            unsigned w_ = cls[c_] & 1u;                                                   \
            words += w_ & ~prev;                                                          \
            prev = w_;                                                                    \
        }                                                                                 \
        unsigned p_ = c_ | (unsigned)(next) << 8;                                         \
        if (pairs[p_ >> 3] >> (p_ & 7) & 1)                                               \
            markers_at(table, b, n, i, next_ok, totals);                                  \
    } while (0)
    for (Py_ssize_t i = 0; i + 1 < n; i++) BYTE(i, b[i + 1]);
    if (n > 0) BYTE(n - 1, 0);
#undef BYTE
    long long digits = 0, symbols = 0, newlines = 0, questions = 0, non_ascii = 0;
    for (int c = 0; c < 256; c++) {
        if (!hist[c]) continue;
        unsigned k = cls[c];
        digits += (k >> 1 & 1) * hist[c];
        symbols += (k >> 2 & 1) * hist[c];
        newlines += (k >> 3 & 1) * hist[c];
        questions += (k >> 4 & 1) * hist[c];
        non_ascii += (k >> 5 & 1) * hist[c];
    }
    out[TOKENS] = words;
    out[DIGITS] = digits;
    out[SYMBOLS] = symbols;
    out[NEWLINES] = newlines;
    out[QUESTIONS] = questions;
    out[NON_ASCII] = non_ascii;
    out[CODE] = totals[0];
    out[MATH] = totals[1];
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
    uint64_t stack_grams[MAX_NGRAM_STACK + 1];
    uint64_t *grams = stack_grams;
    if (classes.len != 256) {
        PyErr_SetString(PyExc_ValueError, "classes must be 256 bytes");
        goto done;
    }
    if (max_ngram < 1) {
        PyErr_SetString(PyExc_ValueError, "max_ngram must be >= 1");
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
        if (max_ngram > MAX_NGRAM_STACK) {
            grams = PyMem_Malloc(sizeof(uint64_t) * ((size_t)max_ngram + 1));
            if (grams == NULL) {
                PyErr_NoMemory();
                goto done;
            }
        }
    }
    const unsigned char *b = (const unsigned char *)data.buf;
    const unsigned char *cls = (const unsigned char *)classes.buf;
    Py_ssize_t n = data.len;

    const MarkerTable *table = marker_table(code_markers, math_markers);
    if (table == NULL)
        goto done;
    long long c[N_COUNTS];
    if (have_block)  /* the words are counted with their hashes below */
        byte_pass(b, n, cls, table, 0, c);
    else
        byte_pass(b, n, cls, table, 1, c);
    Py_ssize_t n_tokens = (Py_ssize_t)c[TOKENS];
    long long digits = c[DIGITS], symbols = c[SYMBOLS], newlines = c[NEWLINES],
              questions = c[QUESTIONS], non_ascii = c[NON_ASCII];
    long long code = c[CODE], math = c[MATH];
    if (have_block) {
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
        /* One pass: each word's hash, sum (b + 1) * BASE**t over its bytes mod 2**64, then
         * every n-gram that ends with it, from grams[k] (the k-gram that ended with the
         * previous word): g_k = splitmix64(g_{k-1} * SALT + token), k from the longest down
         * so that grams[k - 1] is still the previous word's. Counts in the buckets are
         * integers, so the order of the additions cannot change a bit. */
        Py_ssize_t i = 0;
        while (i < n) {
            if (!(cls[b[i]] & 1)) {
                i++;
                continue;
            }
            Py_ssize_t start = i;
            uint64_t h = 0, pw = 1;
            do {
                h += ((uint64_t)b[i] + 1) * pw;
                pw *= BASE;
                i++;
            } while (i < n && (cls[b[i]] & 1));
            uint64_t token = splitmix64(h ^ (uint64_t)(i - start));
            n_tokens++;
            ADD(token);
            int top = n_tokens < max_ngram ? (int)n_tokens : max_ngram;
            for (int k = top; k >= 2; k--) {
                grams[k] = splitmix64(grams[k - 1] * BIGRAM_SALT + token);
                ADD(grams[k]);
            }
            grams[1] = token;
        }
#undef ADD
    }
    result = Py_BuildValue("(nLLLLLLL)", n_tokens, digits, symbols, newlines, questions,
                           non_ascii, code, math);
done:
    if (grams != stack_grams) PyMem_Free(grams);
    if (have_block) PyBuffer_Release(&block);
    PyBuffer_Release(&data);
    PyBuffer_Release(&classes);
    return result;
}

/* ---- WordIndex: word -> row, without a Python object per word ----------------------------
 *
 * An open-addressing hash table keyed on a word's code points (so the same key whatever the
 * string's internal kind), stored as UCS-4 in one arena. Mutated only by add(), read only by
 * lookup(); both run holding the GIL and never call back into Python while the table is in
 * an intermediate state, so a lookup always sees a whole table. */

typedef struct {
    uint64_t hash;
    uint32_t row;
    uint32_t len;  /* 0: empty slot (words are never empty) */
    size_t off;    /* first code point in the arena */
} Slot;

typedef struct {
    PyObject_HEAD
    Slot *slots;
    size_t cap;  /* a power of two, or 0 */
    size_t used;
    Py_UCS4 *keys;
    size_t keys_len, keys_cap;
} WordIndex;

#define WI_FNV 0xCBF29CE484222325ULL

static inline uint64_t wi_step(uint64_t h, Py_UCS4 c) { return (h ^ (uint64_t)c) * BASE; }

static int wi_resize(WordIndex *wi, size_t cap) {
    Slot *slots = PyMem_Calloc(cap, sizeof(Slot));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < wi->cap; i++) {
        Slot *s = &wi->slots[i];
        if (s->len == 0) continue;
        size_t j = (size_t)s->hash & (cap - 1);
        while (slots[j].len != 0) j = (j + 1) & (cap - 1);
        slots[j] = *s;
    }
    PyMem_Free(wi->slots);
    wi->slots = slots;
    wi->cap = cap;
    return 0;
}

/* The slot that holds the word of `len` code points at data[start:] (kind `kind`, hash h),
 * else the empty slot where it would go (*found 0). The table must have slots. */
static inline size_t wi_slot(const WordIndex *wi, int kind, const void *data, Py_ssize_t start,
                             Py_ssize_t len, uint64_t h, int *found) {
    size_t mask = wi->cap - 1;
    for (size_t j = (size_t)h & mask;; j = (j + 1) & mask) {
        const Slot *s = &wi->slots[j];
        if (s->len == 0) {
            *found = 0;
            return j;
        }
        if (s->hash != h || (Py_ssize_t)s->len != len) continue;
        const Py_UCS4 *key = wi->keys + s->off;
        Py_ssize_t i = 0;
        switch (kind) {
        case PyUnicode_1BYTE_KIND: {
            const Py_UCS1 *d = (const Py_UCS1 *)data + start;
            while (i < len && key[i] == d[i]) i++;
            break;
        }
        case PyUnicode_2BYTE_KIND: {
            const Py_UCS2 *d = (const Py_UCS2 *)data + start;
            while (i < len && key[i] == d[i]) i++;
            break;
        }
        default: {
            const Py_UCS4 *d = (const Py_UCS4 *)data + start;
            while (i < len && key[i] == d[i]) i++;
        }
        }
        if (i == len) {
            *found = 1;
            return j;
        }
    }
}

static int wi_add(WordIndex *wi, PyObject *word, Py_ssize_t row) {
    if (!PyUnicode_Check(word)) {
        PyErr_SetString(PyExc_TypeError, "words must be str");
        return -1;
    }
    if (PyUnicode_READY(word) < 0)  /* a legacy string (3.11): its kind and data first */
        return -1;
    Py_ssize_t len = PyUnicode_GET_LENGTH(word);
    if (len == 0 || len > (Py_ssize_t)UINT32_MAX || row < 0 || row > (Py_ssize_t)UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "a word must be non-empty and its row in [0, 2**32)");
        return -1;
    }
    if (2 * (wi->used + 1) > wi->cap && wi_resize(wi, wi->cap ? 2 * wi->cap : 1024) < 0)
        return -1;
    int kind = PyUnicode_KIND(word);
    const void *data = PyUnicode_DATA(word);
    uint64_t h = WI_FNV;
    for (Py_ssize_t i = 0; i < len; i++) h = wi_step(h, PyUnicode_READ(kind, data, i));
    int found;
    size_t j = wi_slot(wi, kind, data, 0, len, h, &found);
    if (found) {  /* already there: point it at the new row */
        wi->slots[j].row = (uint32_t)row;
        return 0;
    }
    if (wi->keys_len + (size_t)len > wi->keys_cap) {
        size_t cap = wi->keys_cap ? 2 * wi->keys_cap : 8192;
        while (cap < wi->keys_len + (size_t)len) cap *= 2;
        Py_UCS4 *keys = PyMem_Realloc(wi->keys, cap * sizeof(Py_UCS4));
        if (keys == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        wi->keys = keys;
        wi->keys_cap = cap;
    }
    for (Py_ssize_t i = 0; i < len; i++)
        wi->keys[wi->keys_len + (size_t)i] = PyUnicode_READ(kind, data, i);
    Slot *s = &wi->slots[j];
    s->hash = h;
    s->row = (uint32_t)row;
    s->off = wi->keys_len;
    s->len = (uint32_t)len;  /* last: the slot is now taken */
    wi->keys_len += (size_t)len;
    wi->used++;
    return 0;
}

static PyObject *WordIndex_add(WordIndex *self, PyObject *args) {
    PyObject *words;
    Py_ssize_t first;
    if (!PyArg_ParseTuple(args, "On", &words, &first))
        return NULL;
    PyObject *seq = PySequence_Fast(words, "words must be a sequence of str");
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (wi_add(self, PySequence_Fast_GET_ITEM(seq, i), first + i) < 0) {
            Py_DECREF(seq);
            return NULL;
        }
    }
    Py_DECREF(seq);
    Py_RETURN_NONE;
}

/* The words of text[:limit], split where str.split() splits (Py_UNICODE_ISSPACE), each
 * hashed while it is scanned and looked up; one loop per string kind. */
#define WI_LOOKUP(NAME, TYPE, KIND)                                                        \
    static Py_ssize_t NAME(const WordIndex *wi, const TYPE *d, Py_ssize_t n, Py_ssize_t *out, \
                           Py_ssize_t cap) {                                               \
        Py_ssize_t count = 0, i = 0;                                                       \
        while (i < n) {                                                                    \
            while (i < n && Py_UNICODE_ISSPACE(d[i])) i++;                                 \
            if (i >= n) break;                                                             \
            Py_ssize_t start = i;                                                          \
            uint64_t h = WI_FNV;                                                           \
            while (i < n && !Py_UNICODE_ISSPACE(d[i])) h = wi_step(h, d[i++]);             \
            if (count >= cap) return -2;                                                   \
            if (wi->cap == 0) return -1;                                                   \
            int found;                                                                     \
            size_t j = wi_slot(wi, KIND, d, start, i - start, h, &found);                  \
            if (!found) return -1;                                                         \
            out[count++] = (Py_ssize_t)wi->slots[j].row;                                   \
        }                                                                                  \
        return count;                                                                      \
    }
WI_LOOKUP(wi_lookup1, Py_UCS1, PyUnicode_1BYTE_KIND)
WI_LOOKUP(wi_lookup2, Py_UCS2, PyUnicode_2BYTE_KIND)
WI_LOOKUP(wi_lookup4, Py_UCS4, PyUnicode_4BYTE_KIND)
#undef WI_LOOKUP

/* The rows of the words of text[:n] (a ready str) into out: how many, -1 at a word not in
 * the index, -2 when out (cap entries) is too short. */
static Py_ssize_t wi_lookup(const WordIndex *wi, PyObject *text, Py_ssize_t n, Py_ssize_t *out,
                            Py_ssize_t cap) {
    const void *data = PyUnicode_DATA(text);
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND:
        return wi_lookup1(wi, (const Py_UCS1 *)data, n, out, cap);
    case PyUnicode_2BYTE_KIND:
        return wi_lookup2(wi, (const Py_UCS2 *)data, n, out, cap);
    default:
        return wi_lookup4(wi, (const Py_UCS4 *)data, n, out, cap);
    }
}

static PyObject *WordIndex_lookup(WordIndex *self, PyObject *args) {
    PyObject *text, *ids_obj;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "UnO", &text, &limit, &ids_obj) || PyUnicode_READY(text) < 0)
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
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (limit >= 0 && limit < n)
        n = limit;
    Py_ssize_t count = wi_lookup(self, text, n, (Py_ssize_t *)ids.buf, cap);
    PyBuffer_Release(&ids);
    if (count == -1)
        Py_RETURN_NONE;
    if (count == -2) {
        PyErr_SetString(PyExc_ValueError, "ids is too short for the words of text");
        return NULL;
    }
    return PyLong_FromSsize_t(count);
}

static PyObject *WordIndex_copy(WordIndex *self, PyObject *unused);

static Py_ssize_t WordIndex_len(WordIndex *self) { return (Py_ssize_t)self->used; }

static void WordIndex_dealloc(WordIndex *self) {
    PyMem_Free(self->slots);
    PyMem_Free(self->keys);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef WordIndex_methods[] = {
    {"add", (PyCFunction)WordIndex_add, METH_VARARGS,
     "add(words, first): words[i] -> row first + i (a word already there is re-pointed)."},
    {"lookup", (PyCFunction)WordIndex_lookup, METH_VARARGS,
     "lookup(text, limit, ids): rows of text[:limit].split() written to the intp buffer ids; "
     "how many words, or None as soon as one is not in the index."},
    {"copy", (PyCFunction)WordIndex_copy, METH_NOARGS, "An independent copy."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods WordIndex_as_sequence = {.sq_length = (lenfunc)WordIndex_len};

static PyTypeObject WordIndexType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "bandit_router.features._scan.WordIndex",
    .tp_doc = "word -> row of the WordLlama featuriser's cache (features/semantic.py)",
    .tp_basicsize = sizeof(WordIndex),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)WordIndex_dealloc,
    .tp_methods = WordIndex_methods,
    .tp_as_sequence = &WordIndex_as_sequence,
};

static PyObject *WordIndex_copy(WordIndex *self, PyObject *unused) {
    (void)unused;
    WordIndex *c = (WordIndex *)PyType_GenericNew(&WordIndexType, NULL, NULL);
    if (c == NULL)
        return NULL;
    if (self->cap) {
        c->slots = PyMem_Malloc(self->cap * sizeof(Slot));
        c->keys = PyMem_Malloc((self->keys_len ? self->keys_len : 1) * sizeof(Py_UCS4));
        if (c->slots == NULL || c->keys == NULL) {
            Py_DECREF(c);
            return PyErr_NoMemory();
        }
        memcpy(c->slots, self->slots, self->cap * sizeof(Slot));
        memcpy(c->keys, self->keys, self->keys_len * sizeof(Py_UCS4));
        c->cap = self->cap;
        c->used = self->used;
        c->keys_len = c->keys_cap = self->keys_len;
    }
    return (PyObject *)c;
}

/* Lane-wise float32 vectors (GCC and clang): eight columns added at once, each column's sum
 * still one row after another, so every clone gives the plain loop's bits. Compiled twice on
 * x86-64 Linux (AVX2 and the baseline), as policy/_predict.c. */
typedef float v8f __attribute__((vector_size(32)));
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define SUM_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SUM_CLONES
#endif

SUM_CLONES
static void add_rows(const float *table, const Py_ssize_t *at, Py_ssize_t n, Py_ssize_t width,
                     float *acc) {
    memcpy(acc, table + at[0] * width, (size_t)width * sizeof(float));
    Py_ssize_t wide = width - width % 8;
    for (Py_ssize_t i = 1; i < n; i++) {
        const float *row = table + at[i] * width;
        for (Py_ssize_t j = 0; j < wide; j += 8) {
            v8f a, b;
            memcpy(&a, acc + j, sizeof a);
            memcpy(&b, row + j, sizeof b);
            a += b;
            memcpy(acc + j, &a, sizeof a);
        }
        for (Py_ssize_t j = wide; j < width; j++)
            acc[j] += row[j];
    }
}

/* The arguments of normalised_sum: rows a contiguous float32 (N, D) array, ids an intp array
 * of at least n >= 1 row indices (sum_normalised checks that they lie within rows), out a
 * contiguous float64 (D,) array. 0, or -1 with the exception set (every buffer released). */
static int rows_args(PyObject *args, Py_buffer *rows, Py_buffer *ids,
                     Py_buffer *out, Py_ssize_t *n, Py_ssize_t *width) {
    PyObject *rows_obj, *ids_obj, *out_obj;
    if (!PyArg_ParseTuple(args, "OOnO", &rows_obj, &ids_obj, n, &out_obj))
        return -1;
    if (PyObject_GetBuffer(rows_obj, rows, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    if (PyObject_GetBuffer(ids_obj, ids, PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(rows);
        return -1;
    }
    if (PyObject_GetBuffer(out_obj, out, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyBuffer_Release(rows);
        PyBuffer_Release(ids);
        return -1;
    }
    Py_ssize_t w = out->itemsize > 0 ? out->len / out->itemsize : 0;
    if (rows->itemsize != (Py_ssize_t)sizeof(float) || rows->format == NULL
        || strcmp(rows->format, "f") != 0 || rows->ndim != 2 || rows->shape[1] != w
        || out->format == NULL || strcmp(out->format, "d") != 0 || w < 1) {
        PyErr_SetString(PyExc_TypeError, "rows must be a contiguous float32 (N, D) array and "
                        "out a float64 (D,) one");
        goto fail;
    }
    if (ids->itemsize != (Py_ssize_t)sizeof(Py_ssize_t) || *n < 1
        || *n > ids->len / (Py_ssize_t)sizeof(Py_ssize_t)) {
        PyErr_SetString(PyExc_ValueError, "ids must be an intp array of at least n >= 1 rows");
        goto fail;
    }
    *width = w;
    return 0;
fail:
    PyBuffer_Release(rows);
    PyBuffer_Release(ids);
    PyBuffer_Release(out);
    return -1;
}

/* rows[at[0]] + ... + rows[at[n-1]] of the (n_rows, width) float32 table, added by add_rows,
 * then in float64 over its Euclidean norm into o (left as it is when the norm is 0), the
 * squares added one after another (no fused multiply-add: -ffp-contract=off). 0, or -1 with
 * the exception set (an index outside the table; no memory). */
static int sum_normalised(const float *table, Py_ssize_t n_rows, const Py_ssize_t *at,
                          Py_ssize_t n, Py_ssize_t width, double *o) {
    for (Py_ssize_t i = 0; i < n; i++) {
        if (at[i] < 0 || at[i] >= n_rows) {
            PyErr_SetString(PyExc_IndexError, "a row index is outside rows");
            return -1;
        }
    }
    float stack[256];
    float *acc = width <= 256 ? stack : PyMem_Malloc((size_t)width * sizeof(float));
    if (acc == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    add_rows(table, at, n, width, acc);
    double square = 0.0;
    for (Py_ssize_t j = 0; j < width; j++) {
        double v = (double)acc[j];
        square += v * v;
    }
    double norm = sqrt(square);
    if (norm > 0.0)
        for (Py_ssize_t j = 0; j < width; j++)
            o[j] = (double)acc[j] / norm;
    if (acc != stack)
        PyMem_Free(acc);
    return 0;
}

/* normalised_sum(rows, ids, n, out): rows[ids[0]] + rows[ids[1]] + ... + rows[ids[n-1]],
 * float32, added one row after another in that order (add_rows: what numpy's add.reduce over
 * axis 0 computes; unlike a BLAS product, whose order depends on the CPU's kernel; the rows
 * read where they are, without numpy's take() copy), then in float64 divided by its Euclidean
 * norm into the float64 out (left as it is when the norm is 0), the norm's squares added
 * one after another (no fused multiply-add: -ffp-contract=off): WordLlamaFeaturizer's
 * _normalise step by step, so both give the same bits. */
static PyObject *normalised_sum(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer rows, ids, out;
    Py_ssize_t n, width;
    if (rows_args(args, &rows, &ids, &out, &n, &width) < 0)
        return NULL;
    int rc = sum_normalised((const float *)rows.buf, rows.shape[0], (const Py_ssize_t *)ids.buf,
                            n, width, (double *)out.buf);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&ids);
    PyBuffer_Release(&out);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}


/* A WordLlama feature vector's bias, structure signals and word block in one call
 * (features/semantic.py's WordLlamaFeaturizer.transform; issue 19): what Featurizer.transform
 * does with scan() and WordLlamaFeaturizer._words does with WordIndex.lookup and
 * normalised_sum, step by step and with the same arithmetic, so the same bits (a test compares
 * them on thousands of prompts), without the dozen Python and numpy calls between them, each
 * of which a decision after a pause pays for again.
 *
 * featurise(text, max_bytes, classes, code_markers, math_markers, index, rows, x)
 *   text          the prompt (str)
 *   x             a float64 vector, zero, of at least 1 + 8 + D entries (D: rows' width)
 * returns True (x is filled: 1, the eight signals, the word block), False (x holds 1 and the
 * signals; a word of text is not in the index yet, so the caller fills the word block by its
 * Python path, which adds it) or None (nothing written: text does not encode as UTF-8, a lone
 * surrogate; the caller takes the Python path, which replaces it). */
#define N_SIGNALS 8
static PyObject *featurise(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *text, *code_markers, *math_markers, *x_obj, *rows_obj;
    Py_ssize_t max_bytes;
    Py_buffer classes;
    WordIndex *index;
    if (!PyArg_ParseTuple(args, "Uny*OOO!OO", &text, &max_bytes, &classes, &code_markers,
                          &math_markers, &WordIndexType, &index, &rows_obj, &x_obj))
        return NULL;
    PyObject *result = NULL;
    Py_buffer rows = {0}, x = {0};
    unsigned char stack_low[4096];
    unsigned char *low = stack_low;
    Py_ssize_t stack_ids[2048];
    Py_ssize_t *ids = stack_ids;
    if (classes.len != 256) {
        PyErr_SetString(PyExc_ValueError, "classes must be 256 bytes");
        goto done;
    }
    if (PyObject_GetBuffer(rows_obj, &rows, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        goto done;
    if (PyObject_GetBuffer(x_obj, &x, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        goto done;
    Py_ssize_t width = rows.ndim == 2 ? rows.shape[1] : 0;
    if (rows.itemsize != (Py_ssize_t)sizeof(float) || rows.format == NULL
        || strcmp(rows.format, "f") != 0 || width < 1 || x.format == NULL
        || strcmp(x.format, "d") != 0 || x.len / 8 < 1 + N_SIGNALS + width || max_bytes < 0) {
        PyErr_SetString(PyExc_TypeError, "rows must be a contiguous float32 (N, D) array, x a "
                        "float64 vector of at least 9 + D entries, max_bytes >= 0");
        goto done;
    }
    Py_ssize_t n_bytes;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &n_bytes);
    if (utf8 == NULL) {  /* a lone surrogate: the Python path replaces it */
        PyErr_Clear();
        result = Py_NewRef(Py_None);
        goto done;
    }
    /* bytes[:max_bytes].lower(): ASCII letters only */
    Py_ssize_t n = n_bytes < max_bytes ? n_bytes : max_bytes;
    if (n > (Py_ssize_t)sizeof stack_low && (low = PyMem_Malloc((size_t)n)) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)utf8[i];
        low[i] = (ch >= 'A' && ch <= 'Z') ? (unsigned char)(ch + 32) : ch;
    }
    const MarkerTable *table = marker_table(code_markers, math_markers);
    if (table == NULL)
        goto done;
    long long c[N_COUNTS];
    byte_pass(low, n, (const unsigned char *)classes.buf, table, 1, c);
    double *out = (double *)x.buf;
    out[0] = 1.0;
    if (n) {  /* Featurizer._dense */
        double nn = (double)n;
        long long math = c[MATH] + c[SYMBOLS] / 2;
        out[1] = log1p((double)n_bytes) / 10.0;
        out[2] = log1p((double)c[TOKENS]) / 8.0;
        out[3] = log1p((double)c[NEWLINES]) / 5.0;
        out[4] = (double)c[DIGITS] / nn;
        out[5] = (double)(c[CODE] < 10 ? c[CODE] : 10) / 10.0;
        out[6] = (double)(math < 10 ? math : 10) / 10.0;
        out[7] = c[QUESTIONS] ? 1.0 : 0.0;
        out[8] = (double)c[NON_ASCII] / nn;
    }
    if (!c[TOKENS]) {
        result = Py_NewRef(Py_True);
        goto done;
    }
    /* WordLlamaFeaturizer._words: the words of text[:max_bytes] (code points) */
    Py_ssize_t chars = PyUnicode_GET_LENGTH(text);
    if (chars > max_bytes)
        chars = max_bytes;
    Py_ssize_t cap = chars / 2 + 1;
    if (cap > (Py_ssize_t)(sizeof stack_ids / sizeof *ids)
        && (ids = PyMem_Malloc((size_t)cap * sizeof *ids)) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t count = wi_lookup(index, text, chars, ids, cap);
    if (count == -1) {  /* a word not in the index yet */
        result = Py_NewRef(Py_False);
        goto done;
    }
    if (count > 0 && sum_normalised((const float *)rows.buf, rows.shape[0], ids, count, width,
                                    out + 1 + N_SIGNALS) < 0)
        goto done;
    result = Py_NewRef(Py_True);
done:
    if (ids != stack_ids) PyMem_Free(ids);
    if (low != stack_low) PyMem_Free(low);
    if (rows.obj) PyBuffer_Release(&rows);
    if (x.obj) PyBuffer_Release(&x);
    PyBuffer_Release(&classes);
    return result;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, "Counts of one prompt's bytes (see features/scan.py)."},
    {"normalised_sum", normalised_sum, METH_VARARGS,
     "normalised_sum(rows, ids, n, out): that sum, in float64, over its norm, into out."},
    {"featurise", featurise, METH_VARARGS,
     "featurise(text, max_bytes, classes, code_markers, math_markers, index, rows, x): "
     "the WordLlama featuriser's bias, signals and word block into x (see _scan.c)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_scan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__scan(void) {
    if (PyType_Ready(&WordIndexType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&WordIndexType);
    if (PyModule_AddObject(m, "WordIndex", (PyObject *)&WordIndexType) < 0) {
        Py_DECREF(&WordIndexType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
