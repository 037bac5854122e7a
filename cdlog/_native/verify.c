/* cdlog/_native/verify.c: the verifier's native steps (issue 12, round 4).
 *
 * ed25519_verify: one Ed25519 signature checked by the very libsodium PyNaCl binds
 * (nacl._sodium, which exports crypto_sign_verify_detached), without PyNaCl's Python
 * wrappers: no VerifyKey, no signature + message concatenation, no cffi buffers. Its
 * reference is cdlog.keys.signer.signature_is_valid_pure (VerifyKey(public).verify(message,
 * signature), where crypto_sign_open is crypto_sign_verify_detached on the same bytes). It
 * hands back None (the reference then runs) for anything not exactly bytes or when the
 * library was not bound; a key that is not 32 bytes or a signature that is not 64 bytes is
 * rejected as the reference rejects it (False).
 *
 * ed25519_sign (issue 12, round 12): one detached Ed25519 signature by libsodium's
 * crypto_sign_detached, bound from the same library. Its reference is the signature PyNaCl's
 * SigningKey.sign makes (crypto_sign, whose first 64 bytes are crypto_sign_detached's
 * signature of the same message under the same secret key); it hands back None (the
 * reference then runs) for anything not exactly bytes, a secret key that is not 64 bytes, or
 * when the library was not bound. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <string.h>

#include "speedups.h"

typedef int (*verify_detached_fn)(const unsigned char *sig, const unsigned char *m,
                                  unsigned long long mlen, const unsigned char *pk);

typedef int (*sign_detached_fn)(unsigned char *sig, unsigned long long *siglen,
                                const unsigned char *m, unsigned long long mlen,
                                const unsigned char *sk);

static verify_detached_fn g_verify_detached = NULL;
static sign_detached_fn g_sign_detached = NULL;

/* ed25519_bind(path) -> bool: find crypto_sign_verify_detached (and crypto_sign_detached) in
 * the library at ``path`` (PyNaCl's _sodium, already loaded); True when the check is bound. */
static PyObject *ed25519_bind(PyObject *self, PyObject *arg) {
    const char *path = PyUnicode_AsUTF8(arg);
    if (path == NULL) return NULL;
    void *handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (handle == NULL) Py_RETURN_FALSE;  /* not loaded by Python: do not load it twice */
    void *fn = dlsym(handle, "crypto_sign_verify_detached");
    /* the handle stays open: the library stays loaded as long as this process runs */
    if (fn == NULL) Py_RETURN_FALSE;
    g_verify_detached = (verify_detached_fn)fn;
    g_sign_detached = (sign_detached_fn)dlsym(handle, "crypto_sign_detached");
    Py_RETURN_TRUE;
}

/* ed25519_verify(public_key, message, signature, prefix) -> True / False / None:
 * does ``signature`` verify ``prefix + message`` under ``public_key``? */
static PyObject *ed25519_verify(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "ed25519_verify takes 4 arguments");
        return NULL;
    }
    PyObject *pub = args[0], *msg = args[1], *sig = args[2], *prefix = args[3];
    if (g_verify_detached == NULL || !PyBytes_CheckExact(pub) || !PyBytes_CheckExact(msg)
        || !PyBytes_CheckExact(sig) || !PyBytes_CheckExact(prefix)) {
        Py_RETURN_NONE;
    }
    if (PyBytes_GET_SIZE(pub) != 32 || PyBytes_GET_SIZE(sig) != 64) Py_RETURN_FALSE;
    const unsigned char *m = (const unsigned char *)PyBytes_AS_STRING(msg);
    Py_ssize_t plen = PyBytes_GET_SIZE(prefix), mlen = PyBytes_GET_SIZE(msg);
    unsigned char stack[4096];
    unsigned char *joined = NULL;
    if (plen > 0) {
        if (plen + mlen <= (Py_ssize_t)sizeof stack) {
            joined = stack;
        } else {
            joined = PyMem_Malloc((size_t)(plen + mlen));
            if (joined == NULL) return PyErr_NoMemory();
        }
        memcpy(joined, PyBytes_AS_STRING(prefix), (size_t)plen);
        memcpy(joined + plen, m, (size_t)mlen);
        m = joined;
        mlen += plen;
    }
    int rc = g_verify_detached((const unsigned char *)PyBytes_AS_STRING(sig), m,
                               (unsigned long long)mlen,
                               (const unsigned char *)PyBytes_AS_STRING(pub));
    if (joined != NULL && joined != stack) PyMem_Free(joined);
    if (rc == 0) Py_RETURN_TRUE;
    Py_RETURN_FALSE;
}

/* ed25519_sign(secret_key, message) -> bytes / None: the 64-byte signature of ``message``
 * under the 64-byte libsodium secret key (seed || public key). */
static PyObject *ed25519_sign(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "ed25519_sign takes 2 arguments");
        return NULL;
    }
    PyObject *sk = args[0], *msg = args[1];
    if (g_sign_detached == NULL || !PyBytes_CheckExact(sk) || PyBytes_GET_SIZE(sk) != 64
        || !PyBytes_CheckExact(msg)) {
        Py_RETURN_NONE;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, 64);
    if (out == NULL) return NULL;
    unsigned long long siglen = 0;
    int rc = g_sign_detached((unsigned char *)PyBytes_AS_STRING(out), &siglen,
                             (const unsigned char *)PyBytes_AS_STRING(msg),
                             (unsigned long long)PyBytes_GET_SIZE(msg),
                             (const unsigned char *)PyBytes_AS_STRING(sk));
    if (rc != 0 || siglen != 64) {
        Py_DECREF(out);
        Py_RETURN_NONE;
    }
    return out;
}

static PyMethodDef verify_methods[] = {
    {"ed25519_bind", (PyCFunction)ed25519_bind, METH_O,
     "Bind crypto_sign_verify_detached of the loaded library at path (PyNaCl's _sodium)."},
    {"ed25519_verify", (PyCFunction)(void (*)(void))ed25519_verify, METH_FASTCALL,
     "ed25519_verify(public_key, message, signature, prefix): True, False, or None (use the "
     "reference)."},
    {"ed25519_sign", (PyCFunction)(void (*)(void))ed25519_sign, METH_FASTCALL,
     "ed25519_sign(secret_key, message): the detached signature, or None (use the "
     "reference)."},
    {NULL, NULL, 0, NULL},
};

int cdlog_register_verify(PyObject *module) {
    return PyModule_AddFunctions(module, verify_methods);
}
