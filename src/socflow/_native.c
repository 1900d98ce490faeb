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
 * count_findings(...)              extractor._count_findings' per-line loop
 * login_setup(...), login_findings(line)   parse/syslog.line_findings (see there)
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

/* ---- login_findings: parse/syslog.line_findings for the usual login lines -----------------
 *
 * login_setup(shapes, head_shape, address, username_kind, not_a_user, literals, contexts, fallback)
 * login_findings(line) -> list
 *
 * Answers exactly as syslog._line_findings_py would, for the lines whose answer it can be sure
 * of without a regex engine: printable ASCII (so str and bytes regex classes agree), where the
 * first pattern Python would try is one of the common six (sshd Failed/Invalid/Disconnected/
 * Accepted, PAM's authentication failure with one rhost=, postfix client=) and that pattern's
 * quick form matches at the literal's first place with the server's own words after the
 * address. Every other line is handed to `fallback` (the Python function) unchanged, so a line
 * this code does not understand costs a call, never a different answer.
 * tests/core/test_scan_native.py checks both agree on generated and hostile lines, and
 * syslog.py pins the patterns this code mirrors (a changed pattern turns it off). */
static PyObject *lf_shapes, *lf_head_shape, *lf_address, *lf_username, *lf_not_a_user,
    *lf_literals, *lf_contexts, *lf_fallback;

enum { LF_UNSURE = -1, LF_NO = 0, LF_YES = 1 };

static Py_ssize_t find_from(const char *s, Py_ssize_t n, Py_ssize_t from, const char *lit, Py_ssize_t m)
{
    if (from < 0 || from > n)
        return -1;
    const char *at = memmem(s + from, n - from, lit, m);
    return at ? at - s : -1;
}

static int starts(const char *s, Py_ssize_t n, Py_ssize_t at, const char *lit)
{
    Py_ssize_t m = (Py_ssize_t)strlen(lit);
    return at >= 0 && at + m <= n && memcmp(s + at, lit, m) == 0;
}

static Py_ssize_t run_nonspace(const char *s, Py_ssize_t n, Py_ssize_t i)
{
    while (i < n && s[i] != ' ')
        i++;
    return i;
}

static int is_addr_char(unsigned char c) /* [0-9a-fA-F.:] */
{
    return is_hex[c] || c == '.' || c == ':';
}

/* (?: \[preauth\])?\]?\s* to the end; only ' ' is whitespace on the lines that come here */
static int preauth_tail(const char *s, Py_ssize_t n, Py_ssize_t i)
{
    if (starts(s, n, i, " [preauth]"))
        i += 10;
    if (i < n && s[i] == ']')
        i++;
    while (i < n && s[i] == ' ')
        i++;
    return i == n;
}

/* syslog._SSH_TAIL fullmatch: (?: ssh2)?(?:: [A-Z0-9-]+ (?:SHA256:[A-Za-z0-9+/]{43}|MD5(?::[0-9a-f]{2}){16}))?
 * then preauth_tail. Each optional part, once it starts, must be taken: nothing after it can
 * begin with its first characters. */
static int ssh_tail(const char *s, Py_ssize_t n, Py_ssize_t i)
{
    if (starts(s, n, i, " ssh2"))
        i += 5;
    if (starts(s, n, i, ": ")) {
        Py_ssize_t j = i + 2;
        while (j < n && ((s[j] >= 'A' && s[j] <= 'Z') || (s[j] >= '0' && s[j] <= '9') || s[j] == '-'))
            j++;
        if (j == i + 2 || j >= n || s[j] != ' ')
            return 0;
        j++;
        if (starts(s, n, j, "SHA256:")) {
            j += 7;
            if (j + 43 > n)
                return 0;
            for (Py_ssize_t k = 0; k < 43; k++) {
                unsigned char c = (unsigned char)s[j + k];
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/'))
                    return 0;
            }
            j += 43;
        } else if (starts(s, n, j, "MD5")) {
            j += 3;
            for (int k = 0; k < 16; k++, j += 3) {
                if (j + 3 > n || s[j] != ':')
                    return 0;
                for (int h = 1; h <= 2; h++) {
                    unsigned char c = (unsigned char)s[j + h];
                    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                        return 0;
                }
            }
        } else {
            return 0;
        }
        i = j;
    }
    return preauth_tail(s, n, i);
}

/* syslog._head_shape(line[:start] with digits as 1 and A-F as A), through its own cache dict */
static int head_ok(const char *s, Py_ssize_t start)
{
    if (start == 0)
        return LF_YES;
    PyObject *shape = PyBytes_FromStringAndSize(NULL, start);
    if (shape == NULL)
        return LF_UNSURE;
    char *d = PyBytes_AS_STRING(shape);
    for (Py_ssize_t i = 0; i < start; i++) {
        char c = s[i];
        d[i] = (c >= '0' && c <= '9') ? '1' : (c >= 'A' && c <= 'F') ? 'A' : c;
    }
    PyObject *known = PyDict_GetItemWithError(lf_shapes, shape); /* borrowed */
    int answer;
    if (known != NULL) {
        answer = PyObject_IsTrue(known);
    } else if (PyErr_Occurred()) {
        answer = -1;
    } else {
        PyObject *r = PyObject_CallOneArg(lf_head_shape, shape);
        answer = r ? PyObject_IsTrue(r) : -1;
        Py_XDECREF(r);
    }
    Py_DECREF(shape);
    if (answer < 0) {
        PyErr_Clear();
        return LF_UNSURE;
    }
    return answer ? LF_YES : LF_NO;
}

/* Append (kind, value, context) for a username as syslog._reported does; 0 ok, -1 error */
static int add_user(PyObject *out, PyObject *contexts, const char *key, const char *s,
                    Py_ssize_t a, Py_ssize_t b)
{
    PyObject *context = PyDict_GetItemString(contexts, key); /* borrowed; absent: not reported */
    if (context == NULL)
        return 0;
    while (a < b && s[a] == ' ') /* str.strip(): only ' ' is whitespace here */
        a++;
    while (b > a && s[b - 1] == ' ')
        b--;
    PyObject *value = PyUnicode_FromStringAndSize(s + a, b - a);
    if (value == NULL)
        return -1;
    int skip = PySet_Contains(lf_not_a_user, value);
    int rc = skip < 0 ? -1 : 0;
    if (skip == 0) {
        PyObject *item = PyTuple_Pack(3, lf_username, value, context);
        rc = item ? PyList_Append(out, item) : -1;
        Py_XDECREF(item);
    }
    Py_DECREF(value);
    return rc;
}

static int add_address(PyObject *out, PyObject *contexts, const char *s, Py_ssize_t a, Py_ssize_t b)
{
    PyObject *context = PyDict_GetItemString(contexts, "ip");
    if (context == NULL)
        return 0;
    PyObject *value = PyUnicode_FromStringAndSize(s + a, b - a);
    if (value == NULL)
        return -1;
    PyObject *address = PyObject_CallOneArg(lf_address, value);
    Py_DECREF(value);
    if (address == NULL)
        return -1;
    int rc = 0;
    if (address != Py_None) {
        if (!PyTuple_Check(address) || PyTuple_GET_SIZE(address) != 2) {
            PyErr_SetString(PyExc_TypeError, "login_findings: address() must give None or (kind, value)");
            rc = -1;
        } else {
            PyObject *item = PyTuple_Pack(3, PyTuple_GET_ITEM(address, 0), PyTuple_GET_ITEM(address, 1), context);
            rc = item ? PyList_Append(out, item) : -1;
            Py_XDECREF(item);
        }
    }
    Py_DECREF(address);
    return rc;
}

/* Spans of one sure match: user (ua..ub, or ua < 0 for none), ruser, ip. */
typedef struct {
    Py_ssize_t start, ua, ub, ra, rb, ia, ib;
} LoginMatch;

static const char *const SSH_METHODS[] = {"password for ", "publickey for ", "none for ",
                                          "keyboard-interactive/pam for ", "keyboard-interactive for ",
                                          "hostbased for ", "gssapi-with-mic for ", NULL};

/* "USER from ADDR port N<tail>" from i: the quick form of the sshd patterns (user without spaces) */
static int user_from_addr(const char *s, Py_ssize_t n, Py_ssize_t i, int ssh, LoginMatch *m)
{
    m->ua = i;
    m->ub = run_nonspace(s, n, i);
    if (!starts(s, n, m->ub, " from "))
        return 0;
    m->ia = m->ub + 6;
    m->ib = run_nonspace(s, n, m->ia);
    if (m->ib == m->ia || !starts(s, n, m->ib, " port "))
        return 0; /* (an address ending the line leaves the tail to the full pattern) */
    Py_ssize_t d = m->ib + 6, e = d;
    while (e < n && s[e] >= '0' && s[e] <= '9')
        e++;
    if (e == d)
        return 0;
    return ssh ? ssh_tail(s, n, e) : preauth_tail(s, n, e);
}

/* Pattern `k` of syslog._AUTH_PATTERNS at its literal's first place `q`: 1 with the spans set
 * when the quick form matches with the server's words after the address, else 0 (unsure). */
static int login_match(int k, const char *s, Py_ssize_t n, Py_ssize_t q, LoginMatch *m)
{
    m->ua = m->ra = -1;
    switch (k) {
    case 0: /* Failed METHOD for [invalid user ]USER from ADDR port N */
    case 8: /* Accepted METHOD for USER from ADDR port N */
    {
        Py_ssize_t i = q + (k == 0 ? 7 : 9);
        const char *const *method = SSH_METHODS;
        for (; *method; method++)
            if (starts(s, n, i, *method))
                break;
        if (*method == NULL)
            return 0;
        i += (Py_ssize_t)strlen(*method);
        if (k == 0 && starts(s, n, i, "invalid user "))
            i += 13; /* (without it, "invalid" would be the user and " user" is not " from ") */
        m->start = q;
        return user_from_addr(s, n, i, 1, m);
    }
    case 1: /* [Ii]nvalid user USER from ADDR port N */
        if (q < 1 || (s[q - 1] != 'I' && s[q - 1] != 'i') || !starts(s, n, q, "nvalid user "))
            return 0;
        m->start = q - 1;
        return user_from_addr(s, n, q + 12, 0, m);
    case 2: /* (Disconnected from|Connection closed by) (authenticating|invalid) user USER ADDR port N */
    {
        Py_ssize_t a = find_from(s, n, 0, "Disconnected from ", 18);
        Py_ssize_t b = find_from(s, n, 0, "Connection closed by ", 21);
        Py_ssize_t p = a < 0 ? b : (b < 0 ? a : (a < b ? a : b));
        if (p < 0)
            return 0;
        Py_ssize_t i = p + (p == a ? 18 : 21);
        if (starts(s, n, i, "authenticating user "))
            i += 20;
        else if (starts(s, n, i, "invalid user "))
            i += 13;
        else
            return 0;
        m->start = p;
        m->ua = i;
        m->ub = run_nonspace(s, n, i);
        if (m->ub >= n)
            return 0;
        m->ia = m->ub + 1;
        m->ib = m->ia;
        while (m->ib < n && is_addr_char((unsigned char)s[m->ib]))
            m->ib++;
        if (m->ib == m->ia || !starts(s, n, m->ib, " port "))
            return 0;
        Py_ssize_t d = m->ib + 6, e = d;
        while (e < n && s[e] >= '0' && s[e] <= '9')
            e++;
        return e > d && preauth_tail(s, n, e);
    }
    case 5: /* authentication failure;[... ]ruser=R rhost=H[ user=U] with one " rhost=" */
    {
        Py_ssize_t first = find_from(s, n, 0, " rhost=", 7);
        if (first < 0 || find_from(s, n, first + 1, " rhost=", 7) >= 0)
            return 0;
        Py_ssize_t a = q + 23, sp = find_from(s, n, a, " ruser=", 7), r;
        if (sp >= 0)
            r = sp + 7;
        else if (starts(s, n, a, "ruser="))
            r = a + 6;
        else
            return 0;
        if (first < r)
            return 0;
        m->start = q;
        m->ra = r;
        m->rb = first;
        m->ia = first + 7;
        m->ib = run_nonspace(s, n, m->ia);
        if (m->ib == n)
            return 1;
        Py_ssize_t w = m->ib;
        while (w < n && s[w] == ' ')
            w++;
        if (starts(s, n, w, "user=")) {
            m->ua = w + 5;
            m->ub = n;
            return 1;
        }
        return w == n;
    }
    case 9: /* client=NAME[ADDR] */
    {
        Py_ssize_t i = q + 7;
        while (i < n && s[i] != ' ' && s[i] != '[')
            i++;
        if (i >= n || s[i] != '[')
            return 0;
        m->start = q;
        m->ia = i + 1;
        m->ib = m->ia;
        while (m->ib < n && is_addr_char((unsigned char)s[m->ib]))
            m->ib++;
        return m->ib > m->ia && m->ib < n && s[m->ib] == ']';
    }
    default:
        return 0;
    }
}

static PyObject *login_setup(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *shapes, *head_shape, *address, *username, *not_a_user, *literals, *contexts, *fallback;
    if (!PyArg_ParseTuple(args, "O!OOOO!O!O!O:login_setup", &PyDict_Type, &shapes, &head_shape, &address,
                          &username, &PyFrozenSet_Type, &not_a_user, &PyTuple_Type, &literals,
                          &PyTuple_Type, &contexts, &fallback))
        return NULL;
    if (PyTuple_GET_SIZE(literals) != 10 || PyTuple_GET_SIZE(contexts) != 10) {
        PyErr_SetString(PyExc_ValueError, "login_setup: ten literals and ten context dicts");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < 10; i++)
        if (!PyBytes_Check(PyTuple_GET_ITEM(literals, i)) || !PyDict_Check(PyTuple_GET_ITEM(contexts, i))) {
            PyErr_SetString(PyExc_TypeError, "login_setup: literals are bytes, contexts dicts");
            return NULL;
        }
    PyObject **slots[] = {&lf_shapes, &lf_head_shape, &lf_address, &lf_username, &lf_not_a_user,
                          &lf_literals, &lf_contexts, &lf_fallback};
    PyObject *values[] = {shapes, head_shape, address, username, not_a_user, literals, contexts, fallback};
    for (int i = 0; i < 8; i++) {
        Py_INCREF(values[i]);
        Py_XSETREF(*slots[i], values[i]);
    }
    Py_RETURN_NONE;
}

static PyObject *login_findings(PyObject *self, PyObject *line)
{
    (void)self;
    if (lf_fallback == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "login_findings before login_setup");
        return NULL;
    }
    if (!PyBytes_Check(line))
        return PyObject_CallOneArg(lf_fallback, line);
    const char *s = PyBytes_AS_STRING(line);
    Py_ssize_t n = PyBytes_GET_SIZE(line);
    for (Py_ssize_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return PyObject_CallOneArg(lf_fallback, line);
    /* The first pattern Python tries: the first whose literal is present ("nvalid user" only
     * with " from " after its first place, as _LINE_PATTERNS' `after`). */
    int k = -1;
    Py_ssize_t q = -1;
    for (int i = 0; i < 10 && k < 0; i++) {
        PyObject *lit = PyTuple_GET_ITEM(lf_literals, i);
        Py_ssize_t at = find_from(s, n, 0, PyBytes_AS_STRING(lit), PyBytes_GET_SIZE(lit));
        if (at < 0)
            continue;
        if (i == 1) {
            Py_ssize_t from = -1, next;
            while ((next = find_from(s, n, from + 1, " from ", 6)) >= 0)
                from = next;
            if (from < at)
                continue;
        }
        k = i;
        q = at;
    }
    if (k < 0)
        return PyList_New(0);
    LoginMatch m;
    if (!login_match(k, s, n, q, &m))
        return PyObject_CallOneArg(lf_fallback, line);
    int head = head_ok(s, m.start);
    if (head != LF_YES)
        return PyObject_CallOneArg(lf_fallback, line);
    PyObject *contexts = PyTuple_GET_ITEM(lf_contexts, k), *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    /* the order of the groups in syslog._AUTH_PATTERNS: user, ruser, ip */
    if ((m.ua >= 0 && m.ub > m.ua && add_user(out, contexts, "user", s, m.ua, m.ub) < 0) ||
        (m.ra >= 0 && m.rb > m.ra && add_user(out, contexts, "ruser", s, m.ra, m.rb) < 0) ||
        add_address(out, contexts, s, m.ia, m.ib) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

/* count_findings(indices, lines, findings, counted, counts, firsts, lasts) -> list
 * extractor._count_findings' per-line loop: for each index (ascending), found = findings(line);
 * every (kind, value) not in `counted` is counted once per line in counts/firsts/lasts. Returns
 * every finding of every line, in order (the caller counts their contexts). */
static PyObject *count_findings(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *indices, *lines, *findings, *counted, *counts, *firsts, *lasts;
    if (!PyArg_ParseTuple(args, "O!O!OO!O!O!O!:count_findings", &PyList_Type, &indices, &PyList_Type, &lines,
                          &findings, &PySet_Type, &counted, &PyDict_Type, &counts, &PyDict_Type, &firsts,
                          &PyDict_Type, &lasts))
        return NULL;
    PyObject *every = PyList_New(0), *one = PyLong_FromLong(1);
    if (every == NULL || one == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(indices); i++) {
        PyObject *idx = PyList_GET_ITEM(indices, i);
        Py_ssize_t at = PyLong_AsSsize_t(idx);
        if (at == -1 && PyErr_Occurred())
            goto fail;
        if (at < 0 || at >= PyList_GET_SIZE(lines)) {
            PyErr_SetString(PyExc_IndexError, "count_findings: line index out of range");
            goto fail;
        }
        PyObject *found = PyObject_CallOneArg(findings, PyList_GET_ITEM(lines, at));
        if (found == NULL)
            goto fail;
        if (!PyList_Check(found)) {
            Py_DECREF(found);
            PyErr_SetString(PyExc_TypeError, "count_findings: findings() must give a list");
            goto fail;
        }
        for (Py_ssize_t j = 0; j < PyList_GET_SIZE(found); j++) {
            PyObject *item = PyList_GET_ITEM(found, j);
            if (PyList_Append(every, item) < 0 || !PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 3) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_TypeError, "count_findings: a finding is (kind, value, context)");
                Py_DECREF(found);
                goto fail;
            }
            PyObject *key = PyTuple_Pack(2, PyTuple_GET_ITEM(item, 0), PyTuple_GET_ITEM(item, 1));
            int skip = key ? PySet_Contains(counted, key) : -1;
            int rc = skip;
            if (skip == 0) {
                PyObject *seen = PyDict_GetItemWithError(counts, key); /* borrowed */
                if (seen == NULL) {
                    rc = PyErr_Occurred() ? -1
                         : (PyDict_SetItem(counts, key, one) < 0 || PyDict_SetItem(firsts, key, idx) < 0 ||
                            PyDict_SetItem(lasts, key, idx) < 0) ? -1 : 0;
                } else {
                    PyObject *last = PyDict_GetItemWithError(lasts, key);
                    int same = last ? PyObject_RichCompareBool(last, idx, Py_EQ) : -1;
                    rc = same;
                    if (same == 0) {
                        PyObject *more = PyNumber_Add(seen, one);
                        rc = (more == NULL || PyDict_SetItem(counts, key, more) < 0 ||
                              PyDict_SetItem(lasts, key, idx) < 0) ? -1 : 0;
                        Py_XDECREF(more);
                    }
                }
            }
            Py_XDECREF(key);
            if (rc < 0) {
                Py_DECREF(found);
                goto fail;
            }
        }
        Py_DECREF(found);
    }
    Py_DECREF(one);
    return every;
fail:
    Py_XDECREF(every);
    Py_XDECREF(one);
    return NULL;
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
    {"count_findings", count_findings, METH_VARARGS,
     "extractor._count_findings' per-line loop: count each line's findings once per line."},
    {"login_setup", login_setup, METH_VARARGS,
     "Give login_findings the syslog module's caches, callables and tables."},
    {"login_findings", login_findings, METH_O,
     "syslog.line_findings for one raw line (the usual login lines in C, the rest in Python)."},
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
