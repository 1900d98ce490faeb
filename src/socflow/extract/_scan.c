/* The extractor's per-line loop in C (optional: extractor.py keeps a pure-Python twin, and
 * tests/core/test_scan_native.py checks that both give the same answers).
 *
 * scan_lines(lines, noise, hits, seen, classify, ipv4_type, hash_types, cache_limit)
 *
 * For every line: split on whitespace and the delimiter bytes, and for each token
 *   - skip it without building an object when its characters alone say it holds no indicator
 *     (numbers, ISO times, plain words: the same test classify_token would make);
 *   - skip it when the noise set knows it;
 *   - count it once per line in `seen` (token -> [count, first line, last line]) when it is a
 *     known hit, or when it is new and classifies as one.
 * New tokens that are a bare dotted quad or a bare hex digest are classified here; every other
 * new token goes to `classify(token)` (Python), which caches its answer in `hits` or `noise`.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static unsigned char is_delim[256];
static unsigned char is_hex[256];

static const char DELIMITERS[] = "\"'<>[](){},;|\\`";

static void init_tables(void)
{
    const char *p;
    is_delim[(unsigned char)' '] = is_delim['\t'] = is_delim['\n'] = 1;
    is_delim['\r'] = is_delim['\x0b'] = is_delim['\x0c'] = is_delim[0] = 1;
    for (p = DELIMITERS; *p; p++)
        is_delim[(unsigned char)*p] = 1;
    for (int c = '0'; c <= '9'; c++)
        is_hex[c] = 1;
    for (int c = 'a'; c <= 'f'; c++)
        is_hex[c] = is_hex[c - 32] = 1;
}

/* What the characters of a token say, gathered in one pass. */
typedef struct {
    int dot, at, pct, dash, underscore, colons, double_colon;
    int digits, hex, alpha, time_chars; /* counts of such characters */
} Shape;

static void shape_of(const unsigned char *s, Py_ssize_t n, Shape *sh)
{
    memset(sh, 0, sizeof(*sh));
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c >= '0' && c <= '9') {
            sh->digits++;
            sh->hex++;
            sh->time_chars++;
            continue;
        }
        if (is_hex[c]) {
            sh->hex++;
            sh->alpha++;
            continue;
        }
        switch (c) {
        case '.': sh->dot++; sh->time_chars++; break;
        case '@': sh->at++; break;
        case '%': sh->pct++; break;
        case '-': sh->dash++; sh->time_chars++; break;
        case '_': sh->underscore++; break;
        case ':':
            sh->colons++;
            sh->time_chars++;
            if (i > 0 && s[i - 1] == ':')
                sh->double_colon = 1;
            break;
        case 'T': case 'Z': case '+': sh->time_chars++; break;
        default: break;
        }
    }
}

/* Tokens the Python loop also drops before classifying: numbers and ISO times (not worth
 * caching) and short tokens without any character an indicator needs. */
static int surely_noise(const Shape *sh, Py_ssize_t n)
{
    if (sh->digits == n)
        return 1;
    if (sh->dash && sh->colons && sh->time_chars == n)
        return 1;
    return n < 32 && !sh->dot && !sh->at && !sh->pct && !sh->dash && !sh->underscore
           && !(sh->double_colon || sh->colons >= 7);
}

/* A bare dotted quad (trailing ".,:;" ignored): 1 valid address, 0 not one, -1 not this shape. */
static int dotted_quad(const unsigned char *s, Py_ssize_t n, Py_ssize_t *bare_len)
{
    while (n > 0 && (s[n - 1] == '.' || s[n - 1] == ',' || s[n - 1] == ':' || s[n - 1] == ';'))
        n--;
    if (n < 7 || n > 15)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.'))
            return -1;
    int parts = 0, value = 0, len = 0, all_zero = 1;
    for (Py_ssize_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (len == 0 || value > 255 || (len > 1 && s[i - len] == '0'))
                return 0;
            if (value)
                all_zero = 0;
            parts++;
            value = len = 0;
        } else {
            value = value * 10 + (s[i] - '0');
            if (++len > 3)
                return 0;
        }
    }
    if (parts != 4 || all_zero)
        return 0;
    *bare_len = n;
    return 1;
}

/* New reference: the classification of a token of a shape handled here, Py_None when Python
 * must decide, NULL on error. */
static PyObject *fast_classify(const unsigned char *s, Py_ssize_t n, const Shape *sh,
                               PyObject *ipv4_type, PyObject *hash_types)
{
    PyObject *kind = NULL, *value = NULL;
    Py_ssize_t bare = 0;
    if (sh->dot && !sh->at && !sh->pct) {
        int quad = dotted_quad(s, n, &bare);
        if (quad == 0)
            return PyTuple_New(0);
        if (quad < 0)
            Py_RETURN_NONE;
        kind = ipv4_type;
        value = PyUnicode_DecodeASCII((const char *)s, bare, NULL);
    } else if (sh->hex == n && (n == 32 || n == 40 || n == 64)) {
        if (sh->digits == n || sh->alpha == n)
            return PyTuple_New(0); /* long decimal ids and words are not digests */
        kind = PyTuple_GET_ITEM(hash_types, n == 32 ? 0 : n == 40 ? 1 : 2);
        char lower[64];
        for (Py_ssize_t i = 0; i < n; i++)
            lower[i] = (char)Py_TOLOWER(s[i]);
        value = PyUnicode_DecodeASCII(lower, n, NULL);
    } else {
        Py_RETURN_NONE;
    }
    if (value == NULL)
        return NULL;
    PyObject *empty = PyUnicode_FromStringAndSize(NULL, 0);
    PyObject *found = empty ? PyTuple_Pack(3, kind, value, empty) : NULL;
    Py_DECREF(value);
    Py_XDECREF(empty);
    if (found == NULL)
        return NULL;
    PyObject *one = PyTuple_Pack(1, found);
    Py_DECREF(found);
    return one;
}

/* Remember a classification in its bounded cache (hits when found, else noise). */
static int remember(PyObject *token, PyObject *found, PyObject *hits, PyObject *noise,
                    Py_ssize_t limit)
{
    if (PyTuple_GET_SIZE(found)) {
        if (PyDict_GET_SIZE(hits) >= limit)
            PyDict_Clear(hits);
        return PyDict_SetItem(hits, token, found);
    }
    if (PySet_GET_SIZE(noise) >= limit && PySet_Clear(noise) < 0)
        return -1;
    return PySet_Add(noise, token);
}

static int new_record(PyObject *seen, PyObject *token, PyObject *idx)
{
    PyObject *one = PyLong_FromLong(1);
    PyObject *record = one ? PyList_New(3) : NULL;
    if (record == NULL) {
        Py_XDECREF(one);
        return -1;
    }
    PyList_SET_ITEM(record, 0, one);
    Py_INCREF(idx);
    PyList_SET_ITEM(record, 1, idx);
    Py_INCREF(idx);
    PyList_SET_ITEM(record, 2, idx);
    int rc = PyDict_SetItem(seen, token, record);
    Py_DECREF(record);
    return rc;
}

/* Count a known token on line `idx` (once per line: `idx` is one object per line). */
static int count_again(PyObject *record, PyObject *idx)
{
    if (PyList_GET_ITEM(record, 2) == idx)
        return 0;
    Py_ssize_t seen = PyLong_AsSsize_t(PyList_GET_ITEM(record, 0));
    if (seen < 0 && PyErr_Occurred())
        return -1;
    PyObject *count = PyLong_FromSsize_t(seen + 1);
    if (count == NULL)
        return -1;
    PyList_SetItem(record, 0, count);
    Py_INCREF(idx);
    PyList_SetItem(record, 2, idx);
    return 0;
}

typedef struct {
    PyObject *noise, *hits, *seen, *classify, *ipv4_type, *hash_types;
    Py_ssize_t limit;
} Scan;

static int scan_token(Scan *sc, const unsigned char *s, Py_ssize_t n, PyObject *idx)
{
    Shape sh;
    shape_of(s, n, &sh);
    if (surely_noise(&sh, n))
        return 0;
    PyObject *token = PyBytes_FromStringAndSize((const char *)s, n);
    if (token == NULL)
        return -1;
    int rc = 0;
    PyObject *record = PyDict_GetItemWithError(sc->seen, token);
    if (record != NULL) {
        rc = count_again(record, idx);
    } else if (PyErr_Occurred()) {
        rc = -1;
    } else if ((rc = PySet_Contains(sc->noise, token)) != 0) {
        rc = rc < 0 ? -1 : 0;
    } else if ((rc = PyDict_Contains(sc->hits, token)) != 0) {
        rc = rc < 0 ? -1 : new_record(sc->seen, token, idx);
    } else {
        PyObject *found = fast_classify(s, n, &sh, sc->ipv4_type, sc->hash_types);
        if (found == Py_None) {
            Py_DECREF(found);
            found = PyObject_CallOneArg(sc->classify, token);
        } else if (found != NULL && remember(token, found, sc->hits, sc->noise, sc->limit) < 0) {
            Py_CLEAR(found);
        }
        if (found == NULL) {
            rc = -1;
        } else {
            int truth = PyObject_IsTrue(found);
            rc = truth < 0 ? -1 : truth ? new_record(sc->seen, token, idx) : 0;
            Py_DECREF(found);
        }
    }
    Py_DECREF(token);
    return rc;
}

static int scan_line(Scan *sc, PyObject *line, PyObject *idx)
{
    if (!PyBytes_Check(line)) {
        PyErr_SetString(PyExc_TypeError, "scan_lines: lines must be bytes");
        return -1;
    }
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(line);
    Py_ssize_t n = PyBytes_GET_SIZE(line), i = 0;
    while (i < n) {
        while (i < n && is_delim[s[i]])
            i++;
        Py_ssize_t start = i;
        while (i < n && !is_delim[s[i]])
            i++;
        if (i > start && scan_token(sc, s + start, i - start, idx) < 0)
            return -1;
    }
    return 0;
}

static PyObject *scan_lines(PyObject *self, PyObject *args)
{
    PyObject *lines;
    Scan sc;
    if (!PyArg_ParseTuple(args, "O!O!O!O!OOO!n:scan_lines", &PyList_Type, &lines, &PySet_Type,
                          &sc.noise, &PyDict_Type, &sc.hits, &PyDict_Type, &sc.seen, &sc.classify,
                          &sc.ipv4_type, &PyTuple_Type, &sc.hash_types, &sc.limit))
        return NULL;
    if (PyTuple_GET_SIZE(sc.hash_types) != 3) {
        PyErr_SetString(PyExc_ValueError, "scan_lines: hash_types must be (md5, sha1, sha256)");
        return NULL;
    }
    Py_INCREF(lines); /* the loop below may call Python code */
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(lines); k++) {
        PyObject *idx = PyLong_FromSsize_t(k);
        if (idx == NULL)
            goto fail;
        PyObject *line = PyList_GET_ITEM(lines, k);
        Py_INCREF(line);
        int rc = scan_line(&sc, line, idx);
        Py_DECREF(line);
        Py_DECREF(idx);
        if (rc < 0)
            goto fail;
    }
    Py_DECREF(lines);
    Py_RETURN_NONE;
fail:
    Py_DECREF(lines);
    return NULL;
}

static PyMethodDef methods[] = {
    {"scan_lines", scan_lines, METH_VARARGS,
     "Count the indicator-bearing tokens of each line into `seen` (see extractor.py)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "socflow.extract._scan", "The extractor's per-line loop in C.", -1,
    methods,
};

PyMODINIT_FUNC PyInit__scan(void)
{
    init_tables();
    return PyModule_Create(&module);
}
