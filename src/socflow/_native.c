/* socflow's hot loops in C. Optional: setup.py builds it where a compiler exists, and every
 * function has a pure-Python twin that is used otherwise (tests/core/test_scan_native.py checks
 * that both give the same answers).
 *
 * scan_lines(lines, noise, hits, seen, classify, kinds, domain_tlds, hash_parameters,
 *            query_string, cache_limit, object_roots)
 *   The extractor's per-line loop. For every line: split on whitespace and the delimiter bytes
 *   (a token holding "://" runs on over ",;()[]", as tokens.tokens_of), and for each token
 *   - skip it without building an object when its characters alone say it holds no indicator
 *     (numbers, ISO times, plain words: the same test classify_token would make);
 *   - skip it when it is known as noise;
 *   - count it once per line in `seen` (token -> [count, first line, last line, found]) when
 *     it is a known hit, or when it is new and classifies as one.
 *   New tokens of the common shapes (a dotted quad with or without a port, a bare hex digest,
 *   a plain host name, a path or query string that can only hold digests, a token with no
 *   character an indicator needs) are classified here,
 *   exactly as classify_token would; every other new token goes to `classify(token)` (Python),
 *   which caches its answer in `hits` or `noise`.
 * lines_with(blob, needles)        indexes of the lines of a newline-joined batch holding any needle
 * marker_lines(blob)               indexes of its lines holding a defanging marker (refang._MARKER)
 * after_version_word(line, token)  the version-number test of extractor._VERSION_WORD
 */
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE /* memmem */
#include <Python.h>
#include <stdint.h>

static unsigned char is_delim[256];
/* Bits of char_class: what the tokenizer notes about a token while it looks for its end. */
enum { C_DELIM = 1, C_DIGIT = 2, C_INDICATOR = 4 /* one of . @ % - _ : */, C_OTHER = 8 };
static unsigned char char_class[256];
static unsigned char is_hex[256];
static unsigned char is_marker_start[256]; /* first bytes of refang markers */
/* Where a URL's token ends (tokens._URL_TOKEN_END: whitespace, NUL, quotes, angle brackets,
 * braces, "|", backslash, backtick): a token holding "://" runs on over ",;()[]". */
static unsigned char is_url_stop[256];

static const char DELIMITERS[] = "\"'<>[](){},;|\\`";

static void init_tables(void)
{
    const char *p;
    is_delim[(unsigned char)' '] = is_delim['\t'] = is_delim['\n'] = 1;
    is_delim['\r'] = is_delim['\x0b'] = is_delim['\x0c'] = is_delim[0] = 1;
    for (p = DELIMITERS; *p; p++)
        is_delim[(unsigned char)*p] = 1;
    for (int c = 0; c < 256; c++)
        char_class[c] = is_delim[c] ? C_DELIM : (c >= '0' && c <= '9') ? C_DIGIT : C_OTHER;
    for (p = ".@%-_:"; *p; p++)
        char_class[(unsigned char)*p] = C_INDICATOR;
    for (int c = '0'; c <= '9'; c++)
        is_hex[c] = 1;
    for (int c = 'a'; c <= 'f'; c++)
        is_hex[c] = is_hex[c - 32] = 1;
    for (p = "[({xXfF\\\n"; *p; p++)
        is_marker_start[(unsigned char)*p] = 1;
    is_url_stop[(unsigned char)' '] = is_url_stop['\t'] = is_url_stop['\n'] = 1;
    is_url_stop['\r'] = is_url_stop['\x0b'] = is_url_stop['\x0c'] = is_url_stop[0] = 1;
    for (p = "\"'<>{}|\\`"; *p; p++)
        is_url_stop[(unsigned char)*p] = 1;
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

/* Types handed in by extractor.py (IocType members), in this order. */
enum { KIND_IPV4, KIND_MD5, KIND_SHA1, KIND_SHA256, KIND_DOMAIN, KIND_COUNT };

typedef struct {
    PyObject *noise, *hits, *seen, *classify, *kinds, *tlds, *hash_parameters, *query_string;
    Py_ssize_t limit;
    PyObject *object_roots; /* validate.OBJECT_ROOTS: "window.name" may be an object path */
    uint32_t root_lengths[256]; /* bit k of [c]: a root of k characters starts with c */
} Scan;

static int has_hex_run(const unsigned char *s, Py_ssize_t n, Py_ssize_t run)
{
    Py_ssize_t len = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        len = is_hex[s[i]] ? len + 1 : 0;
        if (len >= run)
            return 1;
    }
    return 0;
}

/* "cve-" / "cve_" in any case: a CVE id may hide in the token. */
static int has_cve_hint(const unsigned char *s, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i + 3 < n; i++)
        if (Py_TOLOWER(s[i]) == 'c' && Py_TOLOWER(s[i + 1]) == 'v' && Py_TOLOWER(s[i + 2]) == 'e'
            && (s[i + 3] == '-' || s[i + 3] == '_'))
            return 1;
    return 0;
}

/* The number of labels of a name made only of valid labels ([A-Za-z0-9-], no leading/trailing
 * '-', 1..63 chars); 0 for anything else. Sets *tld_start and *numeric_lead (how many labels at
 * the start are all digits). */
static int plain_name(const unsigned char *s, Py_ssize_t n, Py_ssize_t *tld_start,
                      int *numeric_lead)
{
    if (n > 253)
        return 0;
    Py_ssize_t label = 0;
    int labels = 0, digits_only = 1, leading = 1;
    *numeric_lead = 0;
    for (Py_ssize_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (label == 0 || label > 63 || s[i - 1] == '-')
                return 0;
            labels++;
            leading = leading && digits_only;
            *numeric_lead += leading;
            *tld_start = i - label;
            label = 0;
            digits_only = 1;
        } else if (Py_ISALNUM(s[i]) || (s[i] == '-' && label > 0)) {
            label++;
            digits_only = digits_only && s[i] >= '0' && s[i] <= '9';
        } else {
            return 0;
        }
    }
    return labels;
}

static PyObject *one_found(PyObject *kind, PyObject *value)
{
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

static PyObject *lower_ascii(const unsigned char *s, Py_ssize_t n)
{
    PyObject *value = PyUnicode_New(n, 127);
    if (value == NULL)
        return NULL;
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(value);
    for (Py_ssize_t i = 0; i < n; i++)
        out[i] = (Py_UCS1)Py_TOLOWER(s[i]);
    return value;
}

/* A name: a domain when its top-level label is a public one (file-like ones excluded). */
static PyObject *classify_name(Scan *sc, const unsigned char *s, Py_ssize_t n, Py_ssize_t tld)
{
    PyObject *top = lower_ascii(s + tld, n - tld);
    if (top == NULL)
        return NULL;
    int known = PyUnicode_CompareWithASCIIString(top, "arpa") != 0
                && PySet_Contains(sc->tlds, top);
    Py_DECREF(top);
    if (known < 0)
        return NULL;
    if (!known)
        return PyTuple_New(0);
    Py_ssize_t first = (const unsigned char *)memchr(s, '.', n) - s;
    if (first < 32 && (sc->root_lengths[Py_TOLOWER(s[0])] >> first) & 1) {
        PyObject *root = lower_ascii(s, first);
        int object = root ? PySet_Contains(sc->object_roots, root) : -1;
        Py_XDECREF(root);
        if (object < 0)
            return NULL;
        if (object)
            Py_RETURN_NONE; /* "window.name", "host.name": Python tells paths from hosts */
    }
    return one_found(PyTuple_GET_ITEM(sc->kinds, KIND_DOMAIN), lower_ascii(s, n));
}

static int is_word(unsigned char c)
{
    return Py_ISALNUM(c) || c == '_';
}

/* The qualifier of a digest right after "key=": none when the key names a digest ("md5=",
 * "sha256="), else "query-string" (a session id, most likely). */
static PyObject *digest_qualifier(Scan *sc, const unsigned char *s, Py_ssize_t start)
{
    if (start == 0 || s[start - 1] != '=')
        return PyUnicode_FromStringAndSize(NULL, 0);
    Py_ssize_t end = start - 1, from = end;
    while (from > 0 && !strchr("?&;/", s[from - 1]))
        from--;
    PyObject *key = lower_ascii(s + from, end - from);
    if (key == NULL)
        return NULL;
    int named = PySet_Contains(sc->hash_parameters, key);
    Py_DECREF(key);
    if (named < 0)
        return NULL;
    if (named)
        return PyUnicode_FromStringAndSize(NULL, 0);
    Py_INCREF(sc->query_string);
    return sc->query_string;
}

/* Digests in a token of printable ASCII without '.', '@', '%' or ':': whole words
 * ([0-9A-Za-z_] runs) of exactly 32, 40 or 64 hex digits, not all digits nor all letters, in
 * order of appearance, each once (what tokens._hashes finds). */
static PyObject *digests_in(Scan *sc, const unsigned char *s, Py_ssize_t n)
{
    PyObject *found = PyDict_New(); /* insertion-ordered set: linear however many digests */
    for (Py_ssize_t i = 0; found && i < n;) {
        if (!is_word(s[i])) {
            i++;
            continue;
        }
        Py_ssize_t j = i, hex = 0, digits = 0;
        for (; j < n && is_word(s[j]); j++) {
            hex += is_hex[s[j]];
            digits += s[j] >= '0' && s[j] <= '9';
        }
        Py_ssize_t len = j - i;
        if (hex == len && (len == 32 || len == 40 || len == 64) && digits != len && digits != 0) {
            int k = len == 32 ? KIND_MD5 : len == 40 ? KIND_SHA1 : KIND_SHA256;
            PyObject *value = lower_ascii(s + i, len);
            PyObject *qualifier = value ? digest_qualifier(sc, s, i) : NULL;
            PyObject *one = qualifier ? PyTuple_Pack(3, PyTuple_GET_ITEM(sc->kinds, k), value,
                                                     qualifier) : NULL;
            if (one == NULL || PyDict_SetItem(found, one, Py_None) < 0)
                Py_CLEAR(found);
            Py_XDECREF(one);
            Py_XDECREF(qualifier);
            Py_XDECREF(value);
        }
        i = j;
    }
    if (found == NULL)
        return NULL;
    PyObject *keys = PyDict_Keys(found);
    Py_DECREF(found);
    if (keys == NULL)
        return NULL;
    PyObject *tuple = PyList_AsTuple(keys);
    Py_DECREF(keys);
    return tuple;
}

static int printable_ascii(const unsigned char *s, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return 0;
    return 1;
}

/* "rhost=1.2.3.4", "SRC=1.2.3.4": a key of [A-Za-z0-9_-], '=', a bare valid dotted quad.
 * 1: an address starting at *value; 0: a version given as a parameter ("fw=", "ver=", the
 * words of tokens._VERSION_PARAMETER as the key's last run of letters); -1: another shape, or
 * one Python decides (an invalid quad, a CVE hint, a digest-long hex run). */
static int ends_with_ci(const unsigned char *s, Py_ssize_t end, Py_ssize_t floor, const char *word);

static int key_equals_quad(const unsigned char *s, Py_ssize_t n, Py_ssize_t *value)
{
    static const char *version_words[] = {"v", "ver", "version", "build", "rev", "rv", "fw",
                                          "firmware"};
    const unsigned char *eq = memchr(s, '=', n);
    Py_ssize_t key = eq ? eq - s : 0, bare = 0, letters = key;
    if (key == 0)
        return -1;
    for (Py_ssize_t i = 0; i < key; i++)
        if (!(Py_ISALNUM(s[i]) || s[i] == '_' || s[i] == '-'))
            return -1;
    if (dotted_quad(s + key + 1, n - key - 1, &bare) != 1 || bare != n - key - 1
        || has_cve_hint(s, n) || has_hex_run(s, key, 32))
        return -1;
    while (letters > 0 && Py_ISALPHA(s[letters - 1]))
        letters--;
    for (size_t w = 0; w < sizeof(version_words) / sizeof(*version_words); w++)
        if (strlen(version_words[w]) == (size_t)(key - letters)
            && ends_with_ci(s, key, letters, version_words[w]))
            return 0;
    *value = key + 1;
    return 1;
}

/* New reference: the classification of a token of a shape handled here, Py_None when Python
 * must decide, NULL on error. Each shortcut gives exactly what classify_token gives (property
 * tested against it). */
static PyObject *fast_classify(Scan *sc, const unsigned char *s, Py_ssize_t n, const Shape *sh)
{
    Py_ssize_t bare = 0, tld = 0;
    if (!sh->dot && !sh->at && !sh->pct) {
        if (sh->hex == n && (n == 32 || n == 40 || n == 64)) {
            if (sh->digits == n || sh->alpha == n)
                return PyTuple_New(0); /* long decimal ids and words are not digests */
            int k = n == 32 ? KIND_MD5 : n == 40 ? KIND_SHA1 : KIND_SHA256;
            return one_found(PyTuple_GET_ITEM(sc->kinds, k), lower_ascii(s, n));
        }
        if (!sh->double_colon && sh->hex + sh->colons == n && n > 39 && n <= 65536
            && !has_hex_run(s, n, 32))
            /* Hex pairs and colons longer than any IPv6 address (MAC-like dumps, key
             * fingerprints): the address pattern cannot start inside such a run. */
            return PyTuple_New(0);
        if (sh->double_colon || sh->colons >= 7)
            Py_RETURN_NONE; /* may hold an IPv6 address */
        if (n < 13 || ((n < 32 || !has_hex_run(s, n, 32)) && !has_cve_hint(s, n)))
            return PyTuple_New(0);
        if (!sh->colons && !has_cve_hint(s, n) && n <= 65536 && printable_ascii(s, n))
            return digests_in(sc, s, n); /* "/cart?PHPSESSID=<md5>": only digests can be here */
        Py_RETURN_NONE;
    }
    if (sh->at || sh->pct)
        Py_RETURN_NONE;
    int quad = dotted_quad(s, n, &bare);
    if (quad == 0)
        return PyTuple_New(0);
    if (quad < 0 && sh->colons == 1 && !sh->double_colon) {
        /* address:port */
        const unsigned char *colon = memchr(s, ':', n);
        Py_ssize_t head = colon - s, k;
        for (k = head + 1; k < n && s[k] >= '0' && s[k] <= '9'; k++)
            ;
        if (k == n && k > head + 1 && dotted_quad(s, head, &bare) == 1 && bare == head)
            quad = 1;
    }
    if (quad < 0 && !sh->colons) {
        Py_ssize_t value = 0;
        int kq = key_equals_quad(s, n, &value);
        if (kq == 0)
            return PyTuple_New(0);
        if (kq == 1)
            return one_found(PyTuple_GET_ITEM(sc->kinds, KIND_IPV4),
                             PyUnicode_DecodeASCII((const char *)s + value, n - value, NULL));
    }
    if (quad > 0)
        return one_found(PyTuple_GET_ITEM(sc->kinds, KIND_IPV4),
                         PyUnicode_DecodeASCII((const char *)s, bare, NULL));
    if (sh->colons || sh->underscore || has_cve_hint(s, n) || (n >= 32 && has_hex_run(s, n, 32)))
        Py_RETURN_NONE;
    if (sh->digits + sh->dot == n)
        /* Digits and dots but no dotted quad: an address could only start the token and be
         * followed by ".." (1.2.3.4..5); anything else holds nothing (versions, decimals). */
        return memmem(s, n, "..", 2) ? (Py_INCREF(Py_None), Py_None) : PyTuple_New(0);
    Py_ssize_t m = n;
    while (m > 0 && s[m - 1] == '.')
        m--; /* a sentence's full stop is not part of the name */
    int lead = 0, labels = m > 0 ? plain_name(s, m, &tld, &lead) : 0;
    if (labels == 0 || lead >= 3)
        Py_RETURN_NONE; /* lead >= 3: an address may start the token (1.2.3.45-x.com) */
    if (labels == 1)
        return PyTuple_New(0); /* a word before a full stop */
    if (!Py_ISALPHA(s[tld]))
        return PyTuple_New(0); /* no top-level label starts with a digit (mail queue ids) */
    return classify_name(sc, s, m, tld);
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

static int new_record(PyObject *seen, PyObject *token, PyObject *idx, PyObject *found)
{
    PyObject *one = PyLong_FromLong(1);
    PyObject *record = one ? PyList_New(4) : NULL;
    if (record == NULL) {
        Py_XDECREF(one);
        return -1;
    }
    PyList_SET_ITEM(record, 0, one);
    Py_INCREF(idx);
    PyList_SET_ITEM(record, 1, idx);
    Py_INCREF(idx);
    PyList_SET_ITEM(record, 2, idx);
    Py_INCREF(found);
    PyList_SET_ITEM(record, 3, found);
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

/* Tokens classified lately, by a hash of their bytes: a direct-mapped table that answers
 * "noise" or "hit" for a repeated token without building a bytes object. Its size bounds its
 * memory; the classification of a token never changes, so an entry is never stale. */
#define RECENT_BITS 16
typedef struct {
    PyObject *token;  /* bytes */
    PyObject *found;  /* the token's classification; NULL: noise */
    uint64_t hash;
} Recent;
static Recent recent[1 << RECENT_BITS];

/* Eight bytes per step (a multiply per byte, as FNV does, was a tenth of the loop). */
static uint64_t hash_of(const unsigned char *s, Py_ssize_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n, w;
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    if (i < n) {
        w = 0;
        memcpy(&w, s + i, n - i);
        h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    }
    return h ^ (h >> 29);
}

static Recent *recent_slot(uint64_t hash)
{
    return &recent[(hash ^ (hash >> 29)) & ((1 << RECENT_BITS) - 1)];
}

static int recent_match(const Recent *r, uint64_t hash, const unsigned char *s, Py_ssize_t n)
{
    return r->token != NULL && r->hash == hash && PyBytes_GET_SIZE(r->token) == n
           && memcmp(PyBytes_AS_STRING(r->token), s, n) == 0;
}

static void recent_store(Recent *r, uint64_t hash, PyObject *token, PyObject *found)
{
    PyObject *old_token = r->token, *old_found = r->found;
    Py_INCREF(token);
    r->token = token;
    r->found = NULL;
    if (PyTuple_GET_SIZE(found)) {
        Py_INCREF(found);
        r->found = found;
    }
    r->hash = hash;
    Py_XDECREF(old_token);
    Py_XDECREF(old_found);
}

/* Count a hit token on line idx in `seen`. */
static int count_hit(Scan *sc, PyObject *token, PyObject *idx, PyObject *found)
{
    PyObject *record = PyDict_GetItemWithError(sc->seen, token);
    if (record != NULL)
        return count_again(record, idx);
    if (PyErr_Occurred())
        return -1;
    return new_record(sc->seen, token, idx, found);
}

/* `classes`: the char_class bits of the token's characters, OR-ed by the tokenizer. */
static int scan_token(Scan *sc, const unsigned char *s, Py_ssize_t n, unsigned classes,
                      PyObject *idx)
{
    /* Two cases of surely_noise decided without a second look at the characters: all digits,
     * and a short token with none of the characters an indicator needs. */
    if (classes == C_DIGIT || (n < 32 && !(classes & C_INDICATOR)))
        return 0;
    Shape sh;
    shape_of(s, n, &sh);
    if (surely_noise(&sh, n))
        return 0;
    uint64_t hash = hash_of(s, n);
    Recent *slot = recent_slot(hash);
    if (recent_match(slot, hash, s, n))
        return slot->found ? count_hit(sc, slot->token, idx, slot->found) : 0;

    PyObject *token = PyBytes_FromStringAndSize((const char *)s, n);
    if (token == NULL)
        return -1;
    int rc = 0;
    PyObject *found = PyDict_GetItemWithError(sc->hits, token);
    if (found != NULL) {
        Py_INCREF(found);
    } else if (PyErr_Occurred()) {
        rc = -1;
    } else if ((rc = PySet_Contains(sc->noise, token)) != 0) {
        found = rc > 0 ? PyTuple_New(0) : NULL;
        rc = rc < 0 ? -1 : 0;
    } else {
        found = fast_classify(sc, s, n, &sh);
        if (found == Py_None) {
            Py_DECREF(found);
            found = PyObject_CallOneArg(sc->classify, token);
        } else if (found != NULL && remember(token, found, sc->hits, sc->noise, sc->limit) < 0) {
            Py_CLEAR(found);
        }
        if (found != NULL && !PyTuple_Check(found)) {
            PyErr_SetString(PyExc_TypeError, "scan_lines: classify must return a tuple");
            Py_CLEAR(found);
        }
    }
    if (found == NULL) {
        rc = -1;
    } else {
        recent_store(slot, hash, token, found);
        if (PyTuple_GET_SIZE(found))
            rc = count_hit(sc, token, idx, found);
        Py_DECREF(found);
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
        unsigned classes = 0, k;
        while (i < n && !((k = char_class[s[i]]) & C_DELIM)) {
            classes |= k;
            i++;
        }
        if (i < n && !is_url_stop[s[i]] && (classes & C_INDICATOR) && i - start >= 3
            && memmem(s + start, i - start, "://", 3) != NULL) {
            /* A URL's token: on over ",;()[]" ("?C=M;O=A", "Widget_(GUI)", "[::1]"); a field
             * of a list (after "," or ";") ends at the next one (tokens.tokens_of). */
            int field = start > 0 && (s[start - 1] == ',' || s[start - 1] == ';');
            while (i < n && !is_url_stop[s[i]] && !(field && (s[i] == ',' || s[i] == ';')))
                i++;
        }
        if (i > start && scan_token(sc, s + start, i - start, classes, idx) < 0)
            return -1;
    }
    return 0;
}

static PyObject *scan_lines(PyObject *self, PyObject *args)
{
    PyObject *lines;
    Scan sc;
    if (!PyArg_ParseTuple(args, "O!O!O!O!OO!O!O!UnO!:scan_lines", &PyList_Type, &lines,
                          &PySet_Type, &sc.noise, &PyDict_Type, &sc.hits, &PyDict_Type, &sc.seen,
                          &sc.classify, &PyTuple_Type, &sc.kinds, &PyFrozenSet_Type, &sc.tlds,
                          &PyFrozenSet_Type, &sc.hash_parameters, &sc.query_string, &sc.limit,
                          &PyFrozenSet_Type, &sc.object_roots))
        return NULL;
    memset(sc.root_lengths, 0, sizeof(sc.root_lengths));
    {
        PyObject *iter = PyObject_GetIter(sc.object_roots), *root;
        if (iter == NULL)
            return NULL;
        while ((root = PyIter_Next(iter)) != NULL) {
            Py_ssize_t len = PyUnicode_Check(root) ? PyUnicode_GET_LENGTH(root) : 0;
            if (len > 0 && len < 32 && PyUnicode_IS_ASCII(root))
                sc.root_lengths[Py_TOLOWER(PyUnicode_1BYTE_DATA(root)[0])] |= 1u << len;
            Py_DECREF(root);
        }
        Py_DECREF(iter);
        if (PyErr_Occurred())
            return NULL;
    }
    if (PyTuple_GET_SIZE(sc.kinds) != KIND_COUNT) {
        PyErr_SetString(PyExc_ValueError, "scan_lines: kinds must be (ipv4, md5, sha1, sha256, domain)");
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

/* ---- lines_with(blob, needles): indexes of the lines of `blob` holding any needle ---------- */

static int compare_offsets(const void *a, const void *b)
{
    Py_ssize_t x = *(const Py_ssize_t *)a, y = *(const Py_ssize_t *)b;
    return (x > y) - (x < y);
}

static PyObject *lines_with(PyObject *self, PyObject *args)
{
    Py_buffer blob;
    PyObject *needles, *result = NULL;
    Py_ssize_t *hits = NULL, count = 0, room = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*O!:lines_with", &blob, &PyTuple_Type, &needles))
        return NULL;
    const char *text = blob.buf, *end = text + blob.len;
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(needles); k++) {
        PyObject *needle = PyTuple_GET_ITEM(needles, k);
        if (!PyBytes_Check(needle) || PyBytes_GET_SIZE(needle) == 0) {
            PyErr_SetString(PyExc_TypeError, "lines_with: needles must be non-empty bytes");
            goto done;
        }
        const char *n = PyBytes_AS_STRING(needle), *at = text;
        Py_ssize_t len = PyBytes_GET_SIZE(needle);
        while ((at = memmem(at, end - at, n, len)) != NULL) {
            if (count == room) {
                room = room ? room * 2 : 256;
                Py_ssize_t *grown = PyMem_Realloc(hits, room * sizeof(*hits));
                if (grown == NULL) {
                    PyErr_NoMemory();
                    goto done;
                }
                hits = grown;
            }
            hits[count++] = at - text;
            /* the rest of this line need not be searched for this needle */
            const char *eol = memchr(at, '\n', end - at);
            at = eol ? eol + 1 : end;
        }
    }
    qsort(hits, count, sizeof(*hits), compare_offsets);
    result = PyList_New(0);
    Py_ssize_t line = 0, line_start = 0, last = -1;
    for (Py_ssize_t k = 0; result && k < count; k++) {
        while (1) { /* advance to the line holding hits[k] */
            const char *eol = memchr(text + line_start, '\n', blob.len - line_start);
            Py_ssize_t line_end = eol ? eol - text : blob.len;
            if (hits[k] <= line_end)
                break;
            line_start = line_end + 1;
            line++;
        }
        if (line != last) {
            PyObject *index = PyLong_FromSsize_t(line);
            if (index == NULL || PyList_Append(result, index) < 0)
                Py_CLEAR(result);
            Py_XDECREF(index);
            last = line;
        }
    }
done:
    PyMem_Free(hits);
    PyBuffer_Release(&blob);
    return result;
}

/* ---- marker_lines(blob): indexes of the lines of `blob` holding a defanging marker ----------
 * The C form of refang._MARKER (letters in any case):
 *   [\[\(\{] ?(?:\.|dot|:|@|at|/) | xxp | fxp | \\\. | \[tt\]
 * No marker spans a newline, so a line holds one when one starts in it. Checked against the
 * regex by tests/core/test_scan_native.py. */


static int marker_at(const unsigned char *s, Py_ssize_t i, Py_ssize_t n)
{
    Py_ssize_t left = n - i;
    switch (s[i]) {
    case '[':
        if (left >= 4 && (s[i + 1] | 0x20) == 't' && (s[i + 2] | 0x20) == 't' && s[i + 3] == ']')
            return 1;
        /* fall through */
    case '(':
    case '{': {
        Py_ssize_t j = i + 1;
        if (j < n && s[j] == ' ')
            j++;
        if (j >= n)
            return 0;
        unsigned char d = s[j];
        if (d == '.' || d == ':' || d == '@' || d == '/')
            return 1;
        if (n - j >= 3 && (d | 0x20) == 'd' && (s[j + 1] | 0x20) == 'o' && (s[j + 2] | 0x20) == 't')
            return 1;
        return n - j >= 2 && (d | 0x20) == 'a' && (s[j + 1] | 0x20) == 't';
    }
    case 'x':
    case 'X':
    case 'f':
    case 'F': /* xxp, fxp in any case */
        return left >= 3 && (s[i + 1] | 0x20) == 'x' && (s[i + 2] | 0x20) == 'p';
    case '\\':
        return left >= 2 && s[i + 1] == '.';
    default:
        return 0;
    }
}

static PyObject *marker_lines(PyObject *self, PyObject *args)
{
    Py_buffer blob;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*:marker_lines", &blob))
        return NULL;
    const unsigned char *s = blob.buf;
    Py_ssize_t n = blob.len, i = 0, line = 0;
    PyObject *result = PyList_New(0);
    while (result != NULL && i < n) {
        while (i < n && !is_marker_start[s[i]]) /* '\n' is in the table too */
            i++;
        if (i == n)
            break;
        unsigned char c = s[i];
        if (c == '\n') {
            line++;
        } else if (is_marker_start[c] && marker_at(s, i, n)) {
            PyObject *index = PyLong_FromSsize_t(line);
            if (index == NULL || PyList_Append(result, index) < 0)
                Py_CLEAR(result);
            Py_XDECREF(index);
            const unsigned char *eol = memchr(s + i, '\n', n - i); /* one hit per line is enough */
            if (eol == NULL)
                break;
            i = eol - s;
            continue; /* the newline is counted above */
        }
        i++;
    }
    PyBuffer_Release(&blob);
    return result;
}

/* ---- after_version_word(line, token): the token's first place follows a version word -------
 * The C form of extractor._VERSION_WORD searched in the 32 bytes before the token:
 *   (?i:version|build|release|firmware)[\w-]{0,12} | (?<![A-Za-z])(?i:ver|fw|v)
 *   then optionally \s+(?:is|was), then [\s=:"']{0,3}, then the token.
 * Checked against that regex by tests/core/test_scan_native.py. */

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\x0b' || c == '\x0c';
}

static int ends_with_ci(const unsigned char *s, Py_ssize_t end, Py_ssize_t floor, const char *word)
{
    Py_ssize_t n = (Py_ssize_t)strlen(word);
    if (end - n < floor)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (Py_TOLOWER(s[end - n + i]) != word[i])
            return 0;
    return 1;
}

/* A version word ends exactly at `end` and starts at or after `floor`. */
static int version_word_ends_at(const unsigned char *s, Py_ssize_t end, Py_ssize_t floor)
{
    static const char *long_words[] = {"version", "build", "release", "firmware"};
    static const char *short_words[] = {"ver", "fw", "v"};
    for (int w = 0; w < 3; w++) {
        Py_ssize_t n = (Py_ssize_t)strlen(short_words[w]);
        if (ends_with_ci(s, end, floor, short_words[w])
            && (end - n == 0 || !Py_ISALPHA(s[end - n - 1])))
            return 1;
    }
    for (Py_ssize_t tail = 0; tail <= 12 && end - tail >= floor; tail++) {
        if (tail > 0 && !(is_word(s[end - tail]) || s[end - tail] == '-'))
            break;
        for (int w = 0; w < 4; w++)
            if (ends_with_ci(s, end - tail, floor, long_words[w]))
                return 1;
    }
    return 0;
}

static int is_separator(unsigned char c)
{
    return is_space(c) || c == '=' || c == ':' || c == '"' || c == '\'';
}

static int version_before(const unsigned char *s, Py_ssize_t pos)
{
    Py_ssize_t floor = pos > 32 ? pos - 32 : 0;
    for (Py_ssize_t sep = 0; sep <= 3 && pos - sep >= floor; sep++) {
        if (sep > 0 && !is_separator(s[pos - sep]))
            break;
        Py_ssize_t end = pos - sep;
        if (version_word_ends_at(s, end, floor))
            return 1;
        /* ... \s+(?:is|was) right before the separators */
        for (int w = 0; w < 2; w++) {
            const char *verb = w ? "was" : "is";
            Py_ssize_t n = w ? 3 : 2, e = end - n;
            if (e - 1 < floor || memcmp(s + e, verb, n) != 0 || !is_space(s[e - 1]))
                continue;
            for (Py_ssize_t k = e - 1; k >= floor && is_space(s[k]); k--)
                if (version_word_ends_at(s, k, floor))
                    return 1;
        }
    }
    return 0;
}

/* METH_FASTCALL: called once per address token, so argument parsing is kept to type checks. */
static PyObject *after_version_word(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2 || !PyBytes_Check(args[0]) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "after_version_word(line: bytes, token: bytes)");
        return NULL;
    }
    const char *line = PyBytes_AS_STRING(args[0]), *token = PyBytes_AS_STRING(args[1]);
    Py_ssize_t line_len = PyBytes_GET_SIZE(args[0]), token_len = PyBytes_GET_SIZE(args[1]);
    int found = 0;
    if (token_len > 0 && token_len <= line_len) {
        const char *at = memmem(line, line_len, token, token_len);
        Py_ssize_t pos = at ? at - line : -1;
        found = pos > 0 && version_before((const unsigned char *)line, pos);
    }
    return PyBool_FromLong(found);
}

static PyMethodDef methods[] = {
    {"scan_lines", scan_lines, METH_VARARGS,
     "Count the indicator-bearing tokens of each line into `seen` (see extractor.py)."},
    {"lines_with", lines_with, METH_VARARGS,
     "Sorted indexes of the lines of a newline-joined batch that hold any of the needles."},
    {"marker_lines", marker_lines, METH_VARARGS,
     "Sorted indexes of the lines of a newline-joined batch that hold a defanging marker."},
    {"after_version_word", (PyCFunction)(void (*)(void))after_version_word, METH_FASTCALL,
     "True when the first place of `token` in `line` follows a version word."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "socflow._native", "socflow's hot loops in C (optional; pure-Python twins exist).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__native(void)
{
    init_tables();
    return PyModule_Create(&module);
}
