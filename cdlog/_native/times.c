/* cdlog/_native/times.c: the canonical text of an aware time (issue 12, round 6).
 *
 * format_time(value) -> str | None: cdlog.canonical.format_time_pure for an exact
 * datetime.datetime whose UTC offset is known and whole minutes: the text isoformat() writes
 * ("YYYY-MM-DDTHH:MM:SS", ".ffffff" only when the microseconds are not zero, then the offset
 * "+HH:MM" or "-HH:MM"), made from the datetime's fields instead of through isoformat's
 * general formatting. Anything else (a subclass, which may format itself otherwise; a naive
 * time; an offset with seconds or microseconds; a tzinfo whose utcoffset does not answer a
 * timedelta) hands back None, and the reference then formats it or raises its error.
 * tests/test_native_times.py holds the two equal on random times and offsets. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>

#include "speedups.h"

static PyObject *s_utcoffset = NULL;

/* Write ``value`` (0 <= value < 10**width) as ``width`` decimal digits; return the end. */
static char *digits(char *p, int value, int width) {
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + value % 10);
        value /= 10;
    }
    return p + width;
}

static PyObject *format_time(PyObject *self, PyObject *value) {
    if (!PyDateTime_CheckExact(value)) Py_RETURN_NONE;
    PyObject *offset = PyObject_CallMethodNoArgs(value, s_utcoffset);
    if (offset == NULL) {  /* the reference calls it too, and says what it raised */
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    if (!PyDelta_CheckExact(offset)) {  /* None (naive) or something else: the reference */
        Py_DECREF(offset);
        Py_RETURN_NONE;
    }
    long days = PyDateTime_DELTA_GET_DAYS(offset);
    long seconds = PyDateTime_DELTA_GET_SECONDS(offset);
    long micro = PyDateTime_DELTA_GET_MICROSECONDS(offset);
    Py_DECREF(offset);
    if (seconds % 60 != 0 || micro != 0) Py_RETURN_NONE;  /* refused by the reference */
    long total = days * 86400L + seconds;  /* tzinfo keeps it within a day either way */
    char sign = '+';
    if (total < 0) {
        sign = '-';
        total = -total;
    }
    if (total >= 86400L) Py_RETURN_NONE;
    int year = PyDateTime_GET_YEAR(value);  /* 1..9999: four digits, as isoformat pads */
    int us = PyDateTime_DATE_GET_MICROSECOND(value);
    char text[40];
    char *p = text;
    p = digits(p, year, 4);
    *p++ = '-';
    p = digits(p, PyDateTime_GET_MONTH(value), 2);
    *p++ = '-';
    p = digits(p, PyDateTime_GET_DAY(value), 2);
    *p++ = 'T';
    p = digits(p, PyDateTime_DATE_GET_HOUR(value), 2);
    *p++ = ':';
    p = digits(p, PyDateTime_DATE_GET_MINUTE(value), 2);
    *p++ = ':';
    p = digits(p, PyDateTime_DATE_GET_SECOND(value), 2);
    if (us) {  /* isoformat's timespec "auto": the microseconds only when there are any */
        *p++ = '.';
        p = digits(p, us, 6);
    }
    *p++ = sign;
    p = digits(p, (int)(total / 3600), 2);
    *p++ = ':';
    p = digits(p, (int)((total % 3600) / 60), 2);
    Py_ssize_t n = p - text;
    return PyUnicode_FromStringAndSize(text, n);
}

static PyMethodDef methods[] = {
    {"format_time", format_time, METH_O,
     "cdlog.canonical.format_time for an exact datetime with a whole-minute offset, else None."},
    {NULL, NULL, 0, NULL}};

int cdlog_register_times(PyObject *module) {
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) return -1;
    s_utcoffset = PyUnicode_InternFromString("utcoffset");
    if (s_utcoffset == NULL) return -1;
    return PyModule_AddFunctions(module, methods);
}
