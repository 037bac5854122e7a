/* cdlog's native hot loops (issue 12).
 *
 * Each function here has a pure-Python reference that stays the definition of what it does:
 *
 *   fast_path_ok(value)        cdlog.canonical._fast_path_ok
 *   canonical_time(text)       cdlog.canonical.is_canonical_time, for the shapes cdlog
 *                              writes; None where it is not sure (the caller asks Python)
 *   parse(data, check_form)    cdlog.log.sealing.parse (check_form false) or parse followed by
 *                              cdlog.verify.replay._check_form (check_form true), for events in the
 *                              shape cdlog writes; None for anything else, and for anything
 *                              that would fail: the caller then runs the Python reference,
 *                              which words every failure.
 *
 * So the native code never decides a failure: it either returns what the reference returns
 * on success, or hands the input back. tests/test_native_*.py hold each function equal to its
 * reference on random and tampered input. Nothing here hashes or signs anything differently:
 * the SHA-256, orjson and the classes are the ones the Python code uses, given by configure().
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "speedups.h"

#define ABI 6
#define MAX_SAFE_INT 9007199254740991LL /* 2**53 - 1 */
#define N_ENVELOPE_KEYS 13

static PyObject *g_loads, *g_dumps, *g_sort_opt, *g_option_kw, *g_sha256, *g_sealed_cls,
    *g_signature_cls, *g_format;
static PyObject *k_env[N_ENVELOPE_KEYS];
static const char *const env_names[N_ENVELOPE_KEYS] = {
    "format", "log", "stream", "case", "version", "type", "occurred", "recorded",
    "actor", "cosigners", "payload", "prev", "late"};
enum { E_FORMAT, E_LOG, E_STREAM, E_CASE, E_VERSION, E_TYPE, E_OCCURRED, E_RECORDED, E_ACTOR,
       E_COSIGNERS, E_PAYLOAD, E_PREV, E_LATE };
static PyObject *k_key, *k_sig, *k_envelope, *k_envelope_bytes, *k_signatures, *k_sealed,
    *k_hash, *k_hash_hex, *k_digest;
static int configured = 0;

/* ------------------------------------------------------------------ fast_path_ok */

static int int_in_range(PyObject *v) {
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow) return 0;
    if (x == -1 && PyErr_Occurred()) { PyErr_Clear(); return 0; }
    return x >= -MAX_SAFE_INT && x <= MAX_SAFE_INT;
}

static int key_ok(PyObject *k) {
    if (!PyUnicode_CheckExact(k)) return 0;
    if (PyUnicode_IS_ASCII(k)) return 1;
    int kind = PyUnicode_KIND(k);
    if (kind == PyUnicode_1BYTE_KIND) return 1; /* every character below U+0100 */
    const void *data = PyUnicode_DATA(k);
    Py_ssize_t n = PyUnicode_GET_LENGTH(k);
    for (Py_ssize_t i = 0; i < n; i++)
        if (PyUnicode_READ(kind, data, i) >= 0xD800) return 0;
    return 1;
}

static inline int is_leaf(PyObject *v) {
    return PyUnicode_CheckExact(v) || PyBool_Check(v) || v == Py_None;
}

/* 1 when orjson's sorted output equals RFC 8785 for value, else 0; -1 on memory error.
   No Python code runs during the walk, so borrowed references stay valid. */
static int fpo(PyObject *value) {
    Py_ssize_t cap = 64, top = 0;
    PyObject **stack = PyMem_Malloc(cap * sizeof(PyObject *));
    if (stack == NULL) { PyErr_NoMemory(); return -1; }
    int result = 1;
    stack[top++] = value;
#define PUSH(x) do { \
        if (top == cap) { \
            PyObject **grown = PyMem_Realloc(stack, 2 * cap * sizeof(PyObject *)); \
            if (grown == NULL) { PyMem_Free(stack); PyErr_NoMemory(); return -1; } \
            stack = grown; cap *= 2; \
        } \
        stack[top++] = (x); \
    } while (0)
    while (top > 0) {
        PyObject *v = stack[--top];
        if (PyDict_CheckExact(v)) {
            Py_ssize_t pos = 0;
            PyObject *k, *item;
            while (PyDict_Next(v, &pos, &k, &item)) {
                if (!key_ok(k)) { result = 0; goto done; }
                if (is_leaf(item)) continue;
                if (PyLong_CheckExact(item)) {
                    if (!int_in_range(item)) { result = 0; goto done; }
                } else {
                    PUSH(item);
                }
            }
        } else if (is_leaf(v)) {
            continue;
        } else if (PyLong_CheckExact(v)) {
            if (!int_in_range(v)) { result = 0; goto done; }
        } else if (PyList_CheckExact(v) || PyTuple_CheckExact(v)) {
            Py_ssize_t n = PySequence_Fast_GET_SIZE(v);
            PyObject **items = PySequence_Fast_ITEMS(v);
            for (Py_ssize_t i = 0; i < n; i++) PUSH(items[i]);
        } else {
            result = 0;
            goto done;
        }
    }
#undef PUSH
done:
    PyMem_Free(stack);
    return result;
}

static PyObject *py_fast_path_ok(PyObject *self, PyObject *value) {
    int r = fpo(value);
    if (r < 0) return NULL;
    return PyBool_FromLong(r);
}

/* ------------------------------------------------------------------ canonical_time */

static inline int dig(const char *s, int i) { return s[i] >= '0' && s[i] <= '9'; }
static inline int two(const char *s, int i) { return (s[i] - '0') * 10 + (s[i + 1] - '0'); }

/* 1: is_canonical_time(text) is True; 0: it is False; -1: not sure (ask the reference). */
static int canonical_time(PyObject *text) {
    if (!PyUnicode_CheckExact(text) || !PyUnicode_IS_ASCII(text)) return -1;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (n != 25 && n != 32) return -1;
    const char *s = (const char *)PyUnicode_DATA(text);
    static const int digits[] = {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18};
    for (size_t i = 0; i < sizeof digits / sizeof digits[0]; i++)
        if (!dig(s, digits[i])) return -1;
    if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') return -1;
    int off = 19, frac_zero = 0;
    if (n == 32) {
        if (s[19] != '.') return -1;
        frac_zero = 1;
        for (int i = 20; i < 26; i++) {
            if (!dig(s, i)) return -1;
            if (s[i] != '0') frac_zero = 0;
        }
        off = 26;
    }
    if ((s[off] != '+' && s[off] != '-') || !dig(s, off + 1) || !dig(s, off + 2)
        || s[off + 3] != ':' || !dig(s, off + 4) || !dig(s, off + 5))
        return -1;
    int year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int month = two(s, 5), day = two(s, 8), hour = two(s, 11), minute = two(s, 14);
    int second = two(s, 17), oh = two(s, off + 1), om = two(s, off + 4);
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (year < 1 || month < 1 || month > 12 || day < 1) return -1;
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    int last = dim[month - 1] + (month == 2 && leap);
    if (day > last || hour > 23 || minute > 59 || second > 59 || oh > 23 || om > 59) return -1;
    if (frac_zero) return 0;                                        /* isoformat drops .000000 */
    if (s[off] == '-' && oh == 0 && om == 0) return 0;              /* -00:00 reads +00:00 */
    return 1;
}

static PyObject *py_canonical_time(PyObject *self, PyObject *text) {
    int r = canonical_time(text);
    if (r < 0) Py_RETURN_NONE;
    return PyBool_FromLong(r);
}

/* ------------------------------------------------------------------ base64 */

static signed char b64val[256];

static void b64_init(void) {
    memset(b64val, -1, sizeof b64val);
    const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; i++) b64val[(unsigned char)a[i]] = (signed char)i;
}

/* The bytes of a base64 text that binascii.a2b_base64(text, strict_mode=True) decodes to,
   for texts of whole groups with at most two '=' at the end (NULL, no error set, for any other
   text). With canonical set, also NULL unless the text is what b2a_base64 writes for them
   (the bits after the last byte are zero). */
static PyObject *b64_decode(PyObject *text, int canonical) {
    if (!PyUnicode_CheckExact(text) || !PyUnicode_IS_ASCII(text)) return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const unsigned char *s = (const unsigned char *)PyUnicode_DATA(text);
    if (n % 4) return NULL;
    Py_ssize_t pad = 0;
    if (n && s[n - 1] == '=') pad = (s[n - 2] == '=') ? 2 : 1;
    Py_ssize_t out_len = n / 4 * 3 - pad;
    PyObject *out = PyBytes_FromStringAndSize(NULL, out_len);
    if (out == NULL) { PyErr_Clear(); return NULL; }
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
    Py_ssize_t j = 0;
    for (Py_ssize_t i = 0; i < n; i += 4) {
        int last = (i + 4 == n);
        int v0 = b64val[s[i]], v1 = b64val[s[i + 1]];
        int v2 = (last && pad == 2) ? 0 : b64val[s[i + 2]];
        int v3 = (last && pad >= 1) ? 0 : b64val[s[i + 3]];
        if ((v0 | v1 | v2 | v3) < 0) { Py_DECREF(out); return NULL; }
        unsigned int w = ((unsigned)v0 << 18) | ((unsigned)v1 << 12) | ((unsigned)v2 << 6)
                         | (unsigned)v3;
        if (last && pad == 2) {
            if (canonical && (w & 0xFFFF)) { Py_DECREF(out); return NULL; }
            o[j++] = (unsigned char)(w >> 16);
        } else if (last && pad == 1) {
            if (canonical && (w & 0xFF)) { Py_DECREF(out); return NULL; }
            o[j++] = (unsigned char)(w >> 16);
            o[j++] = (unsigned char)(w >> 8);
        } else {
            o[j++] = (unsigned char)(w >> 16);
            o[j++] = (unsigned char)(w >> 8);
            o[j++] = (unsigned char)w;
        }
    }
    return out;
}

static PyObject *py_b64_decode(PyObject *self, PyObject *args) {
    PyObject *text;
    int canonical;
    if (!PyArg_ParseTuple(args, "Op", &text, &canonical)) return NULL;
    PyObject *r = b64_decode(text, canonical);
    if (r == NULL) {
        if (PyErr_Occurred()) return NULL;
        Py_RETURN_NONE;
    }
    return r;
}

/* ------------------------------------------------------------------ parse */

static PyObject *call_loads(PyObject *bytes) {
    PyObject *r = PyObject_CallOneArg(g_loads, bytes);
    if (r == NULL) PyErr_Clear();
    return r;
}

static PyObject *call_dumps_sorted(PyObject *value) {
    PyObject *args[2] = {value, g_sort_opt};
    PyObject *r = PyObject_Vectorcall(g_dumps, args, 1, g_option_kw);
    if (r == NULL) PyErr_Clear();
    return r;
}

static int is_party(PyObject *v) {
    if (!PyDict_Check(v)) return 0;
    PyObject *k = PyDict_GetItemWithError(v, k_key);
    if (k == NULL) { PyErr_Clear(); return 0; }
    return PyUnicode_CheckExact(k);
}

static int bytes_equal(PyObject *a, PyObject *b) {
    Py_ssize_t n = PyBytes_GET_SIZE(a);
    return n == PyBytes_GET_SIZE(b) && memcmp(PyBytes_AS_STRING(a), PyBytes_AS_STRING(b), n) == 0;
}

/* An instance of cls with these attributes in its dictionary, as object.__new__(cls) followed
   by __dict__.update(...) makes it (the frozen dataclass's __setattr__ is not involved). */
static PyObject *plain_instance(PyObject *cls, PyObject **names, PyObject **values, int n) {
    PyTypeObject *tp = (PyTypeObject *)cls;
    PyObject *obj = tp->tp_alloc(tp, 0);
    if (obj == NULL) return NULL;
    for (int i = 0; i < n; i++) {
        if (PyObject_GenericSetAttr(obj, names[i], values[i]) < 0) {
            Py_DECREF(obj);
            return NULL;
        }
    }
    return obj;
}

static PyObject *hex_of(PyObject *digest) {
    static const char hexd[] = "0123456789abcdef";
    Py_ssize_t n = PyBytes_GET_SIZE(digest);
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(digest);
    PyObject *out = PyUnicode_New(2 * n, 127);
    if (out == NULL) return NULL;
    Py_UCS1 *o = PyUnicode_1BYTE_DATA(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        o[2 * i] = hexd[d[i] >> 4];
        o[2 * i + 1] = hexd[d[i] & 15];
    }
    return out;
}

/* SHA-256(0x00 || buf): through OpenSSL's low-level calls where audit.c has bound them (no
 * copy, no digest object: 0.45 against 0.84 us for an event), else hashlib's sha256 as
 * configured. */
static PyObject *leaf_digest(const char *buf, Py_ssize_t n) {
    unsigned char md[32];
    if (cdlog_leaf_sha256(buf, n, md)) return PyBytes_FromStringAndSize((const char *)md, 32);
    PyObject *prefixed = PyBytes_FromStringAndSize(NULL, n + 1);
    if (prefixed == NULL) return NULL;
    char *p = PyBytes_AS_STRING(prefixed);
    p[0] = 0;
    memcpy(p + 1, buf, n);
    PyObject *h = PyObject_CallOneArg(g_sha256, prefixed);
    Py_DECREF(prefixed);
    if (h == NULL) return NULL;
    PyObject *d = PyObject_CallMethodNoArgs(h, k_digest);
    Py_DECREF(h);
    return d;
}

static int hash_hex_ok(PyObject *prev) {
    if (!PyUnicode_CheckExact(prev) || !PyUnicode_IS_ASCII(prev)
        || PyUnicode_GET_LENGTH(prev) != 64)
        return 0;
    const char *s = (const char *)PyUnicode_DATA(prev);
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

/* Returns a new reference to the SealedEvent, Py_None (new reference) to hand the input back,
   or NULL with an exception set only for failures of the interpreter itself. */
static PyObject *parse_impl(PyObject *data, int check_form) {
    PyObject *head = NULL, *tail = NULL, *env = NULL, *raw = NULL, *sigs = NULL,
             *digest = NULL, *hexs = NULL, *result = NULL;
    PyObject *f[N_ENVELOPE_KEYS];
    if (!configured || !PyBytes_CheckExact(data)) Py_RETURN_NONE;
    const char *buf = PyBytes_AS_STRING(data);
    Py_ssize_t n = PyBytes_GET_SIZE(data);
    const char *nl = memchr(buf, '\n', (size_t)n);
    if (nl == NULL) Py_RETURN_NONE;
    Py_ssize_t at = nl - buf;
    if ((head = PyBytes_FromStringAndSize(buf, at)) == NULL) goto error;
    if ((tail = PyBytes_FromStringAndSize(nl + 1, n - at - 1)) == NULL) goto error;
    if ((env = call_loads(head)) == NULL) goto hand_back;
    if ((raw = call_loads(tail)) == NULL) goto hand_back;

    /* signatures: a list of {"key": str, "sig": base64 str} */
    if (!PyList_CheckExact(raw)) goto hand_back;
    Py_ssize_t nsig = PyList_GET_SIZE(raw);
    if ((sigs = PyTuple_New(nsig)) == NULL) goto error;
    for (Py_ssize_t i = 0; i < nsig; i++) {
        PyObject *s = PyList_GET_ITEM(raw, i);
        if (!PyDict_CheckExact(s) || PyDict_GET_SIZE(s) != 2) goto hand_back;
        PyObject *key = PyDict_GetItemWithError(s, k_key);
        PyObject *sig = key ? PyDict_GetItemWithError(s, k_sig) : NULL;
        if (sig == NULL) { PyErr_Clear(); goto hand_back; }
        if (!PyUnicode_CheckExact(key)) goto hand_back;
        PyObject *rawsig = b64_decode(sig, check_form);
        if (rawsig == NULL) { PyErr_Clear(); goto hand_back; }
        PyObject *names[2] = {k_key, k_sig}, *values[2] = {key, rawsig};
        PyObject *obj = plain_instance(g_signature_cls, names, values, 2);
        Py_DECREF(rawsig);
        if (obj == NULL) goto error;
        PyTuple_SET_ITEM(sigs, i, obj);
    }

    /* envelope: exactly the format's keys */
    if (!PyDict_CheckExact(env) || PyDict_GET_SIZE(env) != N_ENVELOPE_KEYS) goto hand_back;
    for (int i = 0; i < N_ENVELOPE_KEYS; i++) {
        f[i] = PyDict_GetItemWithError(env, k_env[i]);
        if (f[i] == NULL) { PyErr_Clear(); goto hand_back; }
    }
    if (!PyUnicode_CheckExact(f[E_FORMAT]) || PyUnicode_Compare(f[E_FORMAT], g_format) != 0
        || !PyLong_CheckExact(f[E_VERSION]) || !PyUnicode_CheckExact(f[E_TYPE]))
        goto hand_back;

    if (check_form) {
        PyObject *stream = f[E_STREAM], *cos = f[E_COSIGNERS], *prev = f[E_PREV];
        int overflow = 0;
        long long version = PyLong_AsLongLongAndOverflow(f[E_VERSION], &overflow);
        if (overflow || (version == -1 && PyErr_Occurred())) { PyErr_Clear(); goto hand_back; }
        if (!PyUnicode_CheckExact(f[E_LOG]) || !PyUnicode_CheckExact(stream)
            || PyUnicode_FindChar(stream, ':', 0, PyUnicode_GET_LENGTH(stream), 1) < 0
            || !PyUnicode_CheckExact(f[E_CASE]) || version < 1 || version > MAX_SAFE_INT
            || !PyDict_Check(f[E_OCCURRED]) || canonical_time(f[E_RECORDED]) != 1
            || !is_party(f[E_ACTOR]) || !PyList_Check(cos) || !PyDict_Check(f[E_PAYLOAD])
            || !(prev == Py_None || hash_hex_ok(prev)) || !PyBool_Check(f[E_LATE]))
            goto hand_back;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(cos); i++)
            if (!is_party(PyList_GET_ITEM(cos, i))) goto hand_back;
        int ok;
        if ((ok = fpo(f[E_OCCURRED])) < 0) goto error;
        if (ok && (ok = fpo(f[E_ACTOR])) < 0) goto error;
        if (ok && (ok = fpo(cos)) < 0) goto error;
        if (ok && (ok = fpo(f[E_PAYLOAD])) < 0) goto error;
        if (!ok) goto hand_back;
        PyObject *again = call_dumps_sorted(env);
        if (again == NULL) goto hand_back;
        ok = PyBytes_CheckExact(again) && bytes_equal(again, head);
        Py_DECREF(again);
        if (!ok) goto hand_back;
        again = call_dumps_sorted(raw);
        if (again == NULL) goto hand_back;
        ok = PyBytes_CheckExact(again) && bytes_equal(again, tail);
        Py_DECREF(again);
        if (!ok) goto hand_back;
    }

    if ((digest = leaf_digest(buf, n)) == NULL) goto error;
    if (!PyBytes_CheckExact(digest)) goto hand_back;
    if ((hexs = hex_of(digest)) == NULL) goto error;
    {
        PyObject *names[10] = {k_envelope, k_envelope_bytes, k_signatures, k_sealed, k_hash,
                               k_env[E_STREAM], k_env[E_CASE], k_env[E_VERSION], k_env[E_TYPE],
                               k_hash_hex};
        PyObject *values[10] = {env, head, sigs, data, digest, f[E_STREAM], f[E_CASE],
                                f[E_VERSION], f[E_TYPE], hexs};
        result = plain_instance(g_sealed_cls, names, values, 10);
    }
    goto cleanup;
hand_back:
    result = Py_NewRef(Py_None);
    goto cleanup;
error:
    result = NULL;
cleanup:
    Py_XDECREF(head);
    Py_XDECREF(tail);
    Py_XDECREF(env);
    Py_XDECREF(raw);
    Py_XDECREF(sigs);
    Py_XDECREF(digest);
    Py_XDECREF(hexs);
    return result;
}

static PyObject *py_parse(PyObject *self, PyObject *args) {
    PyObject *data;
    int check_form;
    if (!PyArg_ParseTuple(args, "Op", &data, &check_form)) return NULL;
    return parse_impl(data, check_form);
}

static PyObject *py_configure(PyObject *self, PyObject *args) {
    PyObject *sealed_cls, *signature_cls, *loads, *dumps, *sort_opt, *sha256, *format;
    if (!PyArg_ParseTuple(args, "O!O!OOO!OU", &PyType_Type, &sealed_cls, &PyType_Type,
                          &signature_cls, &loads, &dumps, &PyLong_Type, &sort_opt, &sha256,
                          &format))
        return NULL;
    Py_XSETREF(g_sealed_cls, Py_NewRef(sealed_cls));
    Py_XSETREF(g_signature_cls, Py_NewRef(signature_cls));
    Py_XSETREF(g_loads, Py_NewRef(loads));
    Py_XSETREF(g_dumps, Py_NewRef(dumps));
    Py_XSETREF(g_sort_opt, Py_NewRef(sort_opt));
    Py_XSETREF(g_sha256, Py_NewRef(sha256));
    Py_XSETREF(g_format, Py_NewRef(format));
    configured = 1;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"fast_path_ok", py_fast_path_ok, METH_O,
     "cdlog.canonical._fast_path_ok: True when orjson's sorted output is RFC 8785."},
    {"canonical_time", py_canonical_time, METH_O,
     "cdlog.canonical.is_canonical_time for the shapes cdlog writes, else None."},
    {"b64_decode", py_b64_decode, METH_VARARGS,
     "Strict base64 of whole groups (canonical: zero bits after the data), else None."},
    {"parse", py_parse, METH_VARARGS,
     "cdlog.log.sealing.parse (and with check_form, cdlog.verify.replay._check_form) for events in "
     "the shape cdlog writes; None hands the input back to the Python reference."},
    {"configure", py_configure, METH_VARARGS,
     "configure(SealedEvent, Signature, loads, dumps, sort_option, sha256, format)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups",
                                    "cdlog's native hot loops (see cdlog._native).", -1,
                                    methods};

#define INTERN(var, text) \
    do { if ((var = PyUnicode_InternFromString(text)) == NULL) return NULL; } while (0)

PyMODINIT_FUNC PyInit__speedups(void) {
    b64_init();
    for (int i = 0; i < N_ENVELOPE_KEYS; i++) INTERN(k_env[i], env_names[i]);
    INTERN(k_key, "key");
    INTERN(k_sig, "sig");
    INTERN(k_envelope, "envelope");
    INTERN(k_envelope_bytes, "envelope_bytes");
    INTERN(k_signatures, "signatures");
    INTERN(k_sealed, "sealed");
    INTERN(k_hash, "hash");
    INTERN(k_hash_hex, "hash_hex");
    INTERN(k_digest, "digest");
    PyObject *option;  /* interned: orjson matches keyword names by identity */
    INTERN(option, "option");
    if ((g_option_kw = PyTuple_Pack(1, option)) == NULL) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddIntConstant(m, "ABI", ABI) < 0) { Py_DECREF(m); return NULL; }
    if (cdlog_register_verify(m) < 0) { Py_DECREF(m); return NULL; }
    if (cdlog_register_views(m) < 0) { Py_DECREF(m); return NULL; }
    if (cdlog_register_audit(m) < 0) { Py_DECREF(m); return NULL; }
    if (cdlog_register_times(m) < 0) { Py_DECREF(m); return NULL; }
    return m;
}
