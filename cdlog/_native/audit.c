/* cdlog/_native/audit.c: the tree audit's per-leaf loop as one native step per page
 * (issue 12, round 5).
 *
 * audit_page checks one page of the audit (cdlog/log/tree_audit.py, _Auditor) when it is
 * clean, and does nothing at all otherwise: its reference is the Python loop of
 * _Auditor.run / _leaf / _flush / _head, which runs on the page instead whenever this returns
 * None. A page is clean when its leaf rows have the indices size, size+1, ... in order, with
 * notification ids rising above last_nid; the event rows are exactly the events those leaves
 * name (same notification id, case and version); every event's bytes hash to the leaf hash
 * stored for it; every inner node the page completes is stored with the rebuilt hash; and each
 * leaf names a case id the head map takes (32 hex digits, or a hyphenated UUID) and a version
 * in 1..2^63-1. On such a page the Python reports nothing, so handing back nothing but the new
 * state is equal to it; on any other page (damage, an odd type, a gap) the Python runs and
 * words every failure.
 *
 * SHA-256 is OpenSSL's (the libcrypto hashlib loaded, bound with audit_bind through
 * dlopen(RTLD_NOLOAD) and dlsym, as verify.c binds libsodium): until bound, audit_page hands
 * every page back. Where the library still exports SHA256_Init/Update/Final (OpenSSL 3 keeps
 * them, deprecated), those are used: OpenSSL 3's one-shot SHA256() looks the digest up on
 * every call, which costs more than hashing a 65-byte node (0.33 against 0.09 us here) and a
 * third of an event's leaf hash (0.69 against 0.45 us). Both are checked on a known answer
 * before use. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <limits.h>
#include <string.h>

#include "speedups.h"

typedef unsigned char *(*sha256_fn)(const unsigned char *d, size_t n, unsigned char *md);

typedef int (*sha256_init_fn)(void *ctx);
typedef int (*sha256_update_fn)(void *ctx, const void *data, size_t len);
typedef int (*sha256_final_fn)(unsigned char *md, void *ctx);

static sha256_fn g_sha256 = NULL;
static sha256_init_fn g_init = NULL;
static sha256_update_fn g_update = NULL;
static sha256_final_fn g_final = NULL;

/* Room for OpenSSL's SHA256_CTX (112 bytes), aligned; opaque here, so no header is needed. */
typedef union {
    unsigned char bytes[256];
    unsigned long long align;
} sha256_ctx;

/* SHA-256 of a || b (b may be empty) into out, through the low-level calls (bound). */
static void low_level_digest(const unsigned char *a, size_t an, const unsigned char *b,
                             size_t bn, unsigned char out[32]) {
    sha256_ctx ctx;
    g_init(&ctx);
    g_update(&ctx, a, an);
    if (bn) g_update(&ctx, b, bn);
    g_final(out, &ctx);
}

static const unsigned char abc[3] = {'a', 'b', 'c'};
static const unsigned char abc_want[4] = {0xba, 0x78, 0x16, 0xbf};  /* SHA-256("abc") */

/* The low-level calls of the library at handle, if it exports them and they give the known
 * answer (split over two updates, as the callers use them). */
static void bind_low_level(void *handle) {
    sha256_init_fn init = (sha256_init_fn)dlsym(handle, "SHA256_Init");
    sha256_update_fn update = (sha256_update_fn)dlsym(handle, "SHA256_Update");
    sha256_final_fn final = (sha256_final_fn)dlsym(handle, "SHA256_Final");
    if (init == NULL || update == NULL || final == NULL) return;
    sha256_ctx ctx;
    unsigned char md[32];
    if (init(&ctx) != 1 || update(&ctx, abc, 1) != 1 || update(&ctx, abc + 1, 2) != 1
        || final(md, &ctx) != 1 || memcmp(md, abc_want, 4) != 0) {
        return;
    }
    g_init = init;
    g_update = update;
    g_final = final;
}

#define MAX_LEVELS 64

typedef struct {
    long long idx;
    unsigned char hash[32];
    int set;
} frontier_node;

/* audit_bind(path, low_level=True) -> bool: find SHA256 in the loaded libcrypto at ``path``,
 * and its low-level calls too unless low_level is false (the tests hold both ways to the
 * reference). */
static PyObject *audit_bind(PyObject *self, PyObject *args) {
    const char *path;
    int low_level = 1;
    if (!PyArg_ParseTuple(args, "s|p:audit_bind", &path, &low_level)) return NULL;
    void *handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (handle == NULL) Py_RETURN_FALSE;  /* not loaded by Python: do not load it twice */
    void *fn = dlsym(handle, "SHA256");
    if (fn == NULL) Py_RETURN_FALSE;
    unsigned char md[32];
    if (((sha256_fn)fn)(abc, 3, md) != md || memcmp(md, abc_want, 4) != 0) Py_RETURN_FALSE;
    g_sha256 = (sha256_fn)fn;
    g_init = NULL;
    g_update = NULL;
    g_final = NULL;
    if (low_level) bind_low_level(handle);
    Py_RETURN_TRUE;
}

/* audit_hashing() -> "low-level", "one-shot" or None: how audit_page hashes. */
static PyObject *audit_hashing(PyObject *self, PyObject *unused) {
    if (g_sha256 == NULL) Py_RETURN_NONE;
    return PyUnicode_FromString(g_init != NULL ? "low-level" : "one-shot");
}

/* An exact int as a long long; 0 with *ok = 0 for anything else (or out of range). */
static long long as_ll(PyObject *o, int *ok) {
    if (!PyLong_CheckExact(o)) { *ok = 0; return 0; }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) { PyErr_Clear(); *ok = 0; return 0; }
    return v;
}

static int hexval(Py_UCS4 c) {
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* The 16 bytes of a case id as cdlog.log.heads.id_bytes reads it: 32 hex digits, or the
 * hyphenated form (hyphens at 8, 13, 18, 23); 0 for any other text (handed back). */
static int case_key(PyObject *text, unsigned char out[16]) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    int hyphens = (n == 36);
    if (n != 32 && n != 36) return 0;
    int k = 0;
    int hi = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (hyphens && (i == 8 || i == 13 || i == 18 || i == 23)) {
            if (c != '-') return 0;
            continue;
        }
        int v = hexval(c);
        if (v < 0) return 0;
        if (hi < 0) {
            hi = v;
        } else {
            out[k++] = (unsigned char)(hi << 4 | v);
            hi = -1;
        }
    }
    return k == 16;
}

static void node_hash(const unsigned char left[32], const unsigned char right[32],
                      unsigned char out[32]) {
    unsigned char buf[65];
    buf[0] = 0x01;
    memcpy(buf + 1, left, 32);
    memcpy(buf + 33, right, 32);
    if (g_init != NULL) {
        low_level_digest(buf, 65, NULL, 0, out);
    } else {
        g_sha256(buf, 65, out);
    }
}

/* The hash of 0x00 || data into out; -1 on memory error. */
static int leaf_hash(const char *data, Py_ssize_t len, unsigned char **buf, size_t *cap,
                     unsigned char out[32]) {
    static const unsigned char zero = 0x00;
    if (g_init != NULL) {  /* no copy of the event's bytes */
        low_level_digest(&zero, 1, (const unsigned char *)data, (size_t)len, out);
        return 0;
    }
    size_t need = (size_t)len + 1;
    if (need > *cap) {
        size_t grow = need < 4096 ? 4096 : need * 2;
        unsigned char *fresh = PyMem_Realloc(*buf, grow);
        if (fresh == NULL) return -1;
        *buf = fresh;
        *cap = grow;
    }
    (*buf)[0] = 0x00;
    memcpy(*buf + 1, data, (size_t)len);
    g_sha256(*buf, need, out);
    return 0;
}

/* The leaf hash of data (SHA-256 of 0x00 || data) into out through the low-level calls,
 * without copying data: 1 when they are bound (audit_bind), else 0 and out untouched (the
 * caller hashes another way). Used by the decode in _speedups.c. */
int cdlog_leaf_sha256(const char *data, Py_ssize_t len, unsigned char out[32]) {
    static const unsigned char zero = 0x00;
    if (g_init == NULL) return 0;
    low_level_digest(&zero, 1, (const unsigned char *)data, (size_t)len, out);
    return 1;
}

/* The text a row's case column becomes in the Python (str(value)); a new reference. */
static PyObject *as_text(PyObject *o) {
    if (PyUnicode_CheckExact(o)) {
        Py_INCREF(o);
        return o;
    }
    if (PyBytes_Check(o) || PyByteArray_Check(o)) return NULL;  /* str() of bytes: odd; hand back */
    return PyObject_Str(o);
}

/* The RFC 6962 root of the frontier at ``size`` (cdlog.log.tree_audit.Frontier.root). */
static int frontier_root(const frontier_node *fr, long long size, unsigned char out[32]) {
    int have = 0;
    unsigned char acc[32];
    for (int level = 0; level < MAX_LEVELS; level++) {
        if (!((size >> level) & 1)) continue;
        if (!fr[level].set || fr[level].idx != (size >> level) - 1) return 0;
        if (!have) {
            memcpy(acc, fr[level].hash, 32);
            have = 1;
        } else {
            unsigned char next[32];
            node_hash(fr[level].hash, acc, next);
            memcpy(acc, next, 32);
        }
    }
    if (!have) return 0;
    memcpy(out, acc, 32);
    return 1;
}

/* Does ``row`` (a stored node row: (idx, hash)) hold index ``idx`` and ``hash``? */
static int row_matches(PyObject *row, long long idx, const unsigned char hash[32]) {
    if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) != 2) return 0;
    int ok = 1;
    long long got = as_ll(PyTuple_GET_ITEM(row, 0), &ok);
    PyObject *h = PyTuple_GET_ITEM(row, 1);
    return ok && got == idx && PyBytes_CheckExact(h) && PyBytes_GET_SIZE(h) == 32
           && memcmp(PyBytes_AS_STRING(h), hash, 32) == 0;
}

/* audit_page(leaves, events, levels, nodes, size, last_nid, wanted) -> None or
 * (nodes, roots, heads, last_nid): see the file's comment and tree_audit._Auditor._native. */
static PyObject *audit_page(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "audit_page takes 7 arguments");
        return NULL;
    }
    PyObject *leaves = args[0], *events = args[1], *levels = args[2], *nodes = args[3];
    PyObject *wanted = args[6];
    if (g_sha256 == NULL || !PyList_CheckExact(leaves) || !PyList_CheckExact(events)
        || !PyList_CheckExact(levels) || !PyList_CheckExact(nodes)
        || !PyList_CheckExact(wanted) || PyList_GET_SIZE(nodes) != MAX_LEVELS) {
        Py_RETURN_NONE;
    }
    int ok = 1;
    long long size = as_ll(args[4], &ok);
    long long last_nid = as_ll(args[5], &ok);
    Py_ssize_t m = PyList_GET_SIZE(leaves);
    Py_ssize_t nlevels = PyList_GET_SIZE(levels);
    if (!ok || size < 0 || m == 0 || PyList_GET_SIZE(events) != m
        || size > (LLONG_MAX >> 2) - m || nlevels > MAX_LEVELS) {
        Py_RETURN_NONE;
    }
    frontier_node fr[MAX_LEVELS];
    for (int level = 0; level < MAX_LEVELS; level++) {
        PyObject *e = PyList_GET_ITEM(nodes, level);
        fr[level].set = 0;
        if (e == Py_None) continue;
        if (!PyTuple_CheckExact(e) || PyTuple_GET_SIZE(e) != 2) Py_RETURN_NONE;
        PyObject *h = PyTuple_GET_ITEM(e, 1);
        fr[level].idx = as_ll(PyTuple_GET_ITEM(e, 0), &ok);
        if (!ok || !PyBytes_CheckExact(h) || PyBytes_GET_SIZE(h) != 32) Py_RETURN_NONE;
        memcpy(fr[level].hash, PyBytes_AS_STRING(h), 32);
        fr[level].set = 1;
    }
    Py_ssize_t cursor[MAX_LEVELS];
    for (Py_ssize_t level = 0; level < nlevels; level++) {
        if (!PyList_CheckExact(PyList_GET_ITEM(levels, level))) Py_RETURN_NONE;
        cursor[level] = 0;
    }
    Py_ssize_t nwanted = PyList_GET_SIZE(wanted), w = 0;
    PyObject *roots = PyList_New(0);
    PyObject *heads = PyList_New(m);
    unsigned char *buf = NULL;
    size_t cap = 0;
    int clean = 0;
    if (roots == NULL || heads == NULL) goto done;
    for (Py_ssize_t i = 0; i < m; i++) {
        PyObject *leaf = PyList_GET_ITEM(leaves, i), *event = PyList_GET_ITEM(events, i);
        if (!PyTuple_CheckExact(leaf) || PyTuple_GET_SIZE(leaf) != 4
            || !PyTuple_CheckExact(event) || PyTuple_GET_SIZE(event) != 5) goto done;
        long long n = size + i;
        PyObject *index_obj = PyTuple_GET_ITEM(leaf, 0), *version_obj = PyTuple_GET_ITEM(leaf, 3);
        long long index = as_ll(index_obj, &ok);
        long long nid = as_ll(PyTuple_GET_ITEM(leaf, 1), &ok);
        long long event_nid = as_ll(PyTuple_GET_ITEM(event, 0), &ok);
        long long version = as_ll(version_obj, &ok);
        long long event_version = as_ll(PyTuple_GET_ITEM(event, 2), &ok);
        PyObject *state = PyTuple_GET_ITEM(event, 4);
        if (!ok || index != n || nid <= last_nid || event_nid != nid || version != event_version
            || version < 1 || !PyBytes_CheckExact(state)) goto done;
        last_nid = nid;
        /* the same case: str() of both columns equal, and a key the head map takes */
        PyObject *leaf_case = as_text(PyTuple_GET_ITEM(leaf, 2));
        if (leaf_case == NULL) { PyErr_Clear(); goto done; }
        PyObject *event_case = as_text(PyTuple_GET_ITEM(event, 1));
        if (event_case == NULL) { PyErr_Clear(); Py_DECREF(leaf_case); goto done; }
        int same = PyUnicode_Compare(leaf_case, event_case);
        if (same == -1 && PyErr_Occurred()) PyErr_Clear();
        unsigned char key[16];
        int keyed = same == 0 && case_key(leaf_case, key);
        Py_DECREF(leaf_case);
        Py_DECREF(event_case);
        if (!keyed) goto done;
        /* the leaf hash, and the one recorded at level 0 */
        unsigned char cur[32];
        if (leaf_hash(PyBytes_AS_STRING(state), PyBytes_GET_SIZE(state), &buf, &cap, cur) < 0) {
            PyErr_Clear();
            goto done;
        }
        if (nlevels < 1 || cursor[0] >= PyList_GET_SIZE(PyList_GET_ITEM(levels, 0))
            || !row_matches(PyList_GET_ITEM(PyList_GET_ITEM(levels, 0), cursor[0]), n, cur))
            goto done;
        cursor[0]++;
        /* the frontier: the nodes this leaf completes, each compared with the stored one */
        unsigned char lhash[32];
        memcpy(lhash, cur, 32);
        frontier_node done_rows[MAX_LEVELS];
        int level = 0;
        while ((n >> level) & 1) {
            long long sibling = (n >> level) - 1;
            if (level + 1 >= MAX_LEVELS || !fr[level].set || fr[level].idx != sibling) goto done;
            unsigned char next[32];
            node_hash(fr[level].hash, cur, next);
            memcpy(cur, next, 32);
            level++;
            long long idx = n >> level;
            if (level >= nlevels) goto done;
            PyObject *stored = PyList_GET_ITEM(levels, level);
            if (cursor[level] >= PyList_GET_SIZE(stored)
                || !row_matches(PyList_GET_ITEM(stored, cursor[level]), idx, cur)) goto done;
            cursor[level]++;
            done_rows[level].idx = idx;
            memcpy(done_rows[level].hash, cur, 32);
        }
        fr[0].idx = n;
        memcpy(fr[0].hash, lhash, 32);
        fr[0].set = 1;
        for (int l = 1; l <= level; l++) {
            fr[l] = done_rows[l];
            fr[l].set = 1;
        }
        /* the head: (key, (key, version, leaf index, leaf hash)) as MapBuilder.set keeps it */
        PyObject *k = PyBytes_FromStringAndSize((const char *)key, 16);
        PyObject *value = PyBytes_FromStringAndSize((const char *)lhash, 32);
        PyObject *entry = (k && value) ? PyTuple_Pack(4, k, version_obj, index_obj, value) : NULL;
        PyObject *pair = entry ? PyTuple_Pack(2, k, entry) : NULL;
        Py_XDECREF(k);
        Py_XDECREF(value);
        Py_XDECREF(entry);
        if (pair == NULL) goto done;
        PyList_SET_ITEM(heads, i, pair);
        /* a size a checkpoint was signed at: the root there */
        while (w < nwanted) {
            int wok = 1;
            long long s = as_ll(PyList_GET_ITEM(wanted, w), &wok);
            if (!wok || s <= n) goto done;  /* wanted: sorted, each in (size, size + m] */
            if (s != n + 1) break;
            unsigned char root[32];
            if (!frontier_root(fr, n + 1, root)) goto done;
            PyObject *r = PyBytes_FromStringAndSize((const char *)root, 32);
            if (r == NULL || PyList_Append(roots, r) < 0) { Py_XDECREF(r); goto done; }
            Py_DECREF(r);
            w++;
        }
    }
    if (w != nwanted) goto done;
    for (Py_ssize_t level = 0; level < nlevels; level++) {
        if (cursor[level] != PyList_GET_SIZE(PyList_GET_ITEM(levels, level))) goto done;
    }
    clean = 1;
done:
    PyMem_Free(buf);
    if (PyErr_Occurred() && !clean) {
        /* a memory error is raised; anything else was an odd row: handed back */
        if (!PyErr_ExceptionMatches(PyExc_MemoryError)) PyErr_Clear();
        else {
            Py_XDECREF(roots);
            Py_XDECREF(heads);
            return NULL;
        }
    }
    if (!clean) {
        Py_XDECREF(roots);
        Py_XDECREF(heads);
        Py_RETURN_NONE;
    }
    PyObject *out_nodes = PyList_New(MAX_LEVELS);
    if (out_nodes == NULL) goto fail;
    for (int level = 0; level < MAX_LEVELS; level++) {
        PyObject *e;
        if (!fr[level].set) {
            e = Py_None;
            Py_INCREF(e);
        } else {
            e = Py_BuildValue("(Ly#)", fr[level].idx, (const char *)fr[level].hash,
                              (Py_ssize_t)32);
            if (e == NULL) { Py_DECREF(out_nodes); goto fail; }
        }
        PyList_SET_ITEM(out_nodes, level, e);
    }
    PyObject *result = Py_BuildValue("(NNNL)", out_nodes, roots, heads, last_nid);
    return result;
fail:
    Py_XDECREF(roots);
    Py_XDECREF(heads);
    return NULL;
}

static PyMethodDef audit_methods[] = {
    {"audit_bind", (PyCFunction)audit_bind, METH_VARARGS,
     "audit_bind(path, low_level=True): bind SHA256 of the loaded libcrypto at path (the one "
     "hashlib uses), and SHA256_Init/Update/Final where it has them and low_level is true."},
    {"audit_hashing", (PyCFunction)audit_hashing, METH_NOARGS,
     "How audit_page hashes: 'low-level', 'one-shot', or None before audit_bind."},
    {"audit_page", (PyCFunction)(void (*)(void))audit_page, METH_FASTCALL,
     "audit_page(leaves, events, levels, nodes, size, last_nid, wanted): the tree audit's "
     "state after a clean page, or None (the Python reference then runs on the page)."},
    {NULL, NULL, 0, NULL},
};

int cdlog_register_audit(PyObject *module) {
    return PyModule_AddFunctions(module, audit_methods);
}
