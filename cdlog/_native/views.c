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
#include <datetime.h>

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

/* ---- view_shared: the columns every entry of one event shares ------------------------- */

static PyObject *k_occurred = NULL, *k_recorded = NULL, *k_at = NULL, *k_to = NULL;
static PyObject *k_stream = NULL, *k_version = NULL, *k_type = NULL, *k_actor_attr = NULL;
static PyObject *k_cosigners_attr = NULL, *k_id = NULL, *k_utcoffset = NULL;

static long long days_from_civil(long long y, unsigned m, unsigned d) {
    /* days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm) */
    y -= m <= 2;
    const long long era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

/* to_us(value) of cdlog.projections.store: microseconds since the epoch of an aware datetime;
 * NULL without an error set when it is not one (the reference decides). */
static PyObject *micros(PyObject *value) {
    if (!PyDateTime_Check(value)) return NULL;
    PyObject *offset = PyObject_CallMethodNoArgs(value, k_utcoffset);
    if (offset == NULL) { PyErr_Clear(); return NULL; }
    if (!PyDelta_Check(offset)) { Py_DECREF(offset); return NULL; }
    long long off = ((long long)PyDateTime_DELTA_GET_DAYS(offset) * 86400LL +
                     PyDateTime_DELTA_GET_SECONDS(offset)) * 1000000LL +
                    PyDateTime_DELTA_GET_MICROSECONDS(offset);
    Py_DECREF(offset);
    long long days = days_from_civil(PyDateTime_GET_YEAR(value),
                                      (unsigned)PyDateTime_GET_MONTH(value),
                                      (unsigned)PyDateTime_GET_DAY(value));
    long long secs = days * 86400LL + PyDateTime_DATE_GET_HOUR(value) * 3600LL +
                     PyDateTime_DATE_GET_MINUTE(value) * 60LL +
                     PyDateTime_DATE_GET_SECOND(value);
    return PyLong_FromLongLong(secs * 1000000LL + PyDateTime_DATE_GET_MICROSECOND(value) - off);
}

/* _text(stored, value): stored when it is a str the canonical check accepts, else
 * format_time(value). New reference, or NULL with an error set. */
static PyObject *time_text(PyObject *stored, PyObject *value, PyObject *canonical,
                           PyObject *format) {
    if (stored != NULL && PyUnicode_CheckExact(stored)) {
        PyObject *ok = PyObject_CallOneArg(canonical, stored);
        if (ok == NULL) return NULL;
        int yes = ok == Py_True;
        Py_DECREF(ok);
        if (yes) { Py_INCREF(stored); return stored; }
    }
    return PyObject_CallOneArg(format, value);
}

static PyObject *view_shared(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "view_shared takes 6 arguments");
        return NULL;
    }
    PyObject *fact = args[0], *env = args[1], *hash_hex = args[2], *canonical = args[3];
    PyObject *format = args[4], *actor_json = args[5];
    if (env != Py_None && !PyDict_CheckExact(env)) Py_RETURN_NONE;
    PyObject *result = NULL, *occurred = NULL, *at = NULL, *recorded = NULL;
    PyObject *end_us = NULL, *rec_us = NULL, *end_text = NULL, *rec_text = NULL;
    PyObject *stream = NULL, *version = NULL, *type = NULL, *actor = NULL, *actor_doc = NULL;
    PyObject *cosigners = NULL, *ids = NULL, *head = NULL, *tail = NULL;
    occurred = PyObject_GetAttr(fact, k_occurred);
    if (occurred == NULL) goto done;
    at = PyObject_GetAttr(occurred, k_at);
    if (at == NULL) goto done;
    if (at == Py_None) { result = Py_None; Py_INCREF(result); goto done; } /* a window */
    recorded = PyObject_GetAttr(fact, k_recorded);
    if (recorded == NULL) goto done;
    end_us = micros(at);
    if (end_us == NULL) {
        if (!PyErr_Occurred()) { result = Py_None; Py_INCREF(result); }
        goto done;
    }
    rec_us = micros(recorded);
    if (rec_us == NULL) {
        if (!PyErr_Occurred()) { result = Py_None; Py_INCREF(result); }
        goto done;
    }
    PyObject *stored = NULL, *stored_recorded = NULL; /* borrowed */
    if (env != Py_None) {
        PyObject *times = PyDict_GetItemWithError(env, k_occurred);
        if (times == NULL && PyErr_Occurred()) goto done;
        if (times != NULL && PyDict_CheckExact(times)) {
            stored = PyDict_GetItemWithError(times, k_to);
            if (stored == NULL) {
                if (PyErr_Occurred()) goto done;
                stored = PyDict_GetItemWithError(times, k_at);
                if (stored == NULL && PyErr_Occurred()) goto done;
            }
        }
        stored_recorded = PyDict_GetItemWithError(env, k_recorded);
        if (stored_recorded == NULL && PyErr_Occurred()) goto done;
    }
    end_text = time_text(stored, at, canonical, format);
    if (end_text == NULL) goto done;
    rec_text = time_text(stored_recorded, recorded, canonical, format);
    if (rec_text == NULL) goto done;
    if ((stream = PyObject_GetAttr(fact, k_stream)) == NULL) goto done;
    if ((version = PyObject_GetAttr(fact, k_version)) == NULL) goto done;
    if ((type = PyObject_GetAttr(fact, k_type)) == NULL) goto done;
    if ((actor = PyObject_GetAttr(fact, k_actor_attr)) == NULL) goto done;
    if ((cosigners = PyObject_GetAttr(fact, k_cosigners_attr)) == NULL) goto done;
    if ((actor_doc = PyObject_CallOneArg(actor_json, actor)) == NULL) goto done;
    int some = PyObject_IsTrue(cosigners);
    if (some < 0) goto done;
    if (some) {
        PyObject *it = PyObject_GetIter(cosigners);
        if (it == NULL) goto done;
        if ((ids = PyList_New(0)) == NULL) { Py_DECREF(it); goto done; }
        PyObject *c;
        while ((c = PyIter_Next(it)) != NULL) {
            PyObject *id = PyObject_GetAttr(c, k_id);
            Py_DECREF(c);
            if (id == NULL || PyList_Append(ids, id) < 0) {
                Py_XDECREF(id);
                Py_DECREF(it);
                goto done;
            }
            Py_DECREF(id);
        }
        Py_DECREF(it);
        if (PyErr_Occurred()) goto done;
    } else {
        ids = Py_None;
        Py_INCREF(ids);
    }
    head = PyTuple_Pack(4, stream, version, hash_hex, type);
    if (head == NULL) goto done;
    tail = PyTuple_Pack(5, end_text, end_text, end_us, rec_text, rec_us);
    if (tail == NULL) goto done;
    result = PyTuple_Pack(4, head, tail, actor_doc, ids);
done:
    Py_XDECREF(occurred); Py_XDECREF(at); Py_XDECREF(recorded); Py_XDECREF(end_us);
    Py_XDECREF(rec_us); Py_XDECREF(end_text); Py_XDECREF(rec_text); Py_XDECREF(stream);
    Py_XDECREF(version); Py_XDECREF(type); Py_XDECREF(actor); Py_XDECREF(actor_doc);
    Py_XDECREF(cosigners); Py_XDECREF(ids); Py_XDECREF(head); Py_XDECREF(tail);
    return result;
}

static PyMethodDef views_methods[] = {
    {"view_rows", (PyCFunction)(void (*)(void))view_rows, METH_FASTCALL,
     "The stored rows of one view's entries of one event (None: use the Python reference)."},
    {"view_shared", (PyCFunction)(void (*)(void))view_shared, METH_FASTCALL,
     "The columns every entry of one event shares (None: use the Python reference)."},
    {NULL, NULL, 0, NULL},
};

#define VIEWS_INTERN(var, text) \
    if ((var = PyUnicode_InternFromString(text)) == NULL) return -1

int cdlog_register_views(PyObject *module) {
    if (k_occurred == NULL) {
        PyDateTime_IMPORT;
        if (PyDateTimeAPI == NULL) return -1;
        VIEWS_INTERN(k_occurred, "occurred");
        VIEWS_INTERN(k_recorded, "recorded");
        VIEWS_INTERN(k_at, "at");
        VIEWS_INTERN(k_to, "to");
        VIEWS_INTERN(k_stream, "stream");
        VIEWS_INTERN(k_version, "version");
        VIEWS_INTERN(k_type, "type");
        VIEWS_INTERN(k_actor_attr, "actor");
        VIEWS_INTERN(k_cosigners_attr, "cosigners");
        VIEWS_INTERN(k_id, "id");
        VIEWS_INTERN(k_utcoffset, "utcoffset");
    }
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
