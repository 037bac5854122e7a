/* cdlog/_native/speedups.h: the register functions of the parts of cdlog._native._speedups
 * (each area's C file adds its functions to the one module; see _speedups.c). */
#ifndef CDLOG_SPEEDUPS_H
#define CDLOG_SPEEDUPS_H

#include <Python.h>

int cdlog_register_verify(PyObject *module);
int cdlog_register_views(PyObject *module);
int cdlog_register_audit(PyObject *module);
int cdlog_register_times(PyObject *module);

/* audit.c: SHA-256(0x00 || data) through OpenSSL's low-level calls when bound (1), else 0. */
int cdlog_leaf_sha256(const char *data, Py_ssize_t len, unsigned char out[32]);

#endif
