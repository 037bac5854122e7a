/* cdlog/_native/views.c: the rows of a view's entries (the native twin of
 * cdlog.projections.store.Processed.rows' loop, reference: store._rows_pure).
 *
 * view_rows(position, head, tail, actor, cosigners, new, dumps, option, entry_type) builds,
 * for each entry (kind, key, data) of `new`, the stored row
 *     (position, seq, *head, kind, key, *tail, dumps(doc, option=option).decode())
 * where doc is a copy of data with "actor" and, unless cosigners is None, "cosigners" set
 * where data does not name them. It answers only for the shapes the projector hands it
 * (head a 4-tuple, tail a 5-tuple, new a list of entry_type's whose data is a dict) and returns
 * None otherwise, so the Python reference runs; an error of dumps (or of decoding its bytes)
 * is raised as the reference raises it. */
#define PY_SSIZE_T_CLEAN
#include "speedups.h"

static PyObject *k_actor = NULL;
static PyObject *k_cosigners = NULL;
static PyObject *g_kwnames = NULL; /* ("option",) */

static PyObject *row_of(PyObject *position, Py_ssize_t seq, PyObject *head, PyObject *tail,
                        PyObject *entry, PyObject *actor, PyObject *cosigners,
                        PyObject *dumps, PyObject *option) {
    PyObject *data = PyTuple_GET_ITEM(entry, 2);
    PyObject *doc = PyDict_Copy(data);
    if (doc == NULL) return NULL;
    PyObject *got = PyDict_SetDefault(doc, k_actor, actor); /* borrowed */
    if (got == NULL) { Py_DECREF(doc); return NULL; }
    if (cosigners != Py_None) {
        got = PyDict_SetDefault(doc, k_cosigners, cosigners);
        if (got == NULL) { Py_DECREF(doc); return NULL; }
    }
    PyObject *args[2] = {doc, option};
    PyObject *raw = PyObject_Vectorcall(dumps, args, 1, g_kwnames);
    Py_DECREF(doc);
    if (raw == NULL) return NULL;
    PyObject *text;
    if (PyBytes_CheckExact(raw)) {
        text = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), NULL);
    } else {
        text = PyObject_CallMethod(raw, "decode", NULL);
    }
    Py_DECREF(raw);
    if (text == NULL) return NULL;
    PyObject *row = PyTuple_New(14);
    if (row == NULL) { Py_DECREF(text); return NULL; }
    PyObject *n = PyLong_FromSsize_t(seq);
    if (n == NULL) { Py_DECREF(text); Py_DECREF(row); return NULL; }
    Py_INCREF(position);
    PyTuple_SET_ITEM(row, 0, position);
    PyTuple_SET_ITEM(row, 1, n);
    for (Py_ssize_t i = 0; i < 4; i++) {
        PyObject *v = PyTuple_GET_ITEM(head, i);
        Py_INCREF(v);
        PyTuple_SET_ITEM(row, 2 + i, v);
    }
    for (Py_ssize_t i = 0; i < 2; i++) {
        PyObject *v = PyTuple_GET_ITEM(entry, i);
        Py_INCREF(v);
        PyTuple_SET_ITEM(row, 6 + i, v);
    }
    for (Py_ssize_t i = 0; i < 5; i++) {
        PyObject *v = PyTuple_GET_ITEM(tail, i);
        Py_INCREF(v);
        PyTuple_SET_ITEM(row, 8 + i, v);
    }
    PyTuple_SET_ITEM(row, 13, text);
    return row;
}

static PyObject *view_rows(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "view_rows takes 9 arguments");
        return NULL;
    }
    PyObject *position = args[0], *head = args[1], *tail = args[2], *actor = args[3];
    PyObject *cosigners = args[4], *new = args[5], *dumps = args[6], *option = args[7];
    PyObject *entry_type = args[8];
    if (!PyTuple_CheckExact(head) || PyTuple_GET_SIZE(head) != 4 ||
            !PyTuple_CheckExact(tail) || PyTuple_GET_SIZE(tail) != 5 ||
            !PyList_CheckExact(new)) {
        Py_RETURN_NONE;
    }
    Py_ssize_t count = PyList_GET_SIZE(new);
    for (Py_ssize_t i = 0; i < count; i++) { /* every entry in the shape, before any work */
        PyObject *entry = PyList_GET_ITEM(new, i);
        if ((PyObject *)Py_TYPE(entry) != entry_type || !PyTuple_Check(entry) ||
                PyTuple_GET_SIZE(entry) != 3 ||
                !PyDict_CheckExact(PyTuple_GET_ITEM(entry, 2))) {
            Py_RETURN_NONE;
        }
    }
    PyObject *out = PyList_New(count);
    if (out == NULL) return NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (i >= PyList_GET_SIZE(new)) { /* dumps changed the list: the reference decides */
            Py_DECREF(out);
            Py_RETURN_NONE;
        }
        PyObject *entry = PyList_GET_ITEM(new, i);
        Py_INCREF(entry);
        PyObject *row = row_of(position, i, head, tail, entry, actor, cosigners, dumps,
                               option);
        Py_DECREF(entry);
        if (row == NULL) { Py_DECREF(out); return NULL; }
        PyList_SET_ITEM(out, i, row);
    }
    return out;
}

static PyMethodDef views_methods[] = {
    {"view_rows", (PyCFunction)(void (*)(void))view_rows, METH_FASTCALL,
     "The stored rows of one view's entries of one event (None: use the Python reference)."},
    {NULL, NULL, 0, NULL},
};

int cdlog_register_views(PyObject *module) {
    if (k_actor == NULL) {
        k_actor = PyUnicode_InternFromString("actor");
        k_cosigners = PyUnicode_InternFromString("cosigners");
        PyObject *option = PyUnicode_InternFromString("option");
        if (k_actor == NULL || k_cosigners == NULL || option == NULL) return -1;
        g_kwnames = PyTuple_Pack(1, option);
        Py_DECREF(option);
        if (g_kwnames == NULL) return -1;
    }
    return PyModule_AddFunctions(module, views_methods);
}
