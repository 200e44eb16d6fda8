/* The CTI checksum (byte sum modulo 2**16) in C: an optional acceleration of
   pyctiarbin.protocol.framing.checksum, which has a pure-Python path giving the same sums.
   Built when a C compiler is available at install time; nothing else depends on it. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

static int
index_argument(PyObject *value, Py_ssize_t *out)
{
    if (value == Py_None) {
        return 1;
    }
    Py_ssize_t number = PyNumber_AsSsize_t(value, PyExc_OverflowError);
    if (number == -1 && PyErr_Occurred()) {
        return 0;
    }
    *out = number;
    return 1;
}

/* byte_sum(data, start=0, end=None) -> the sum of data[start:end] modulo 2**16 */
static PyObject *
byte_sum(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t start = 0, end = PY_SSIZE_T_MAX;
    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "byte_sum(data, start=0, end=None)");
        return NULL;
    }
    if (nargs > 1 && !index_argument(args[1], &start)) {
        return NULL;
    }
    if (nargs > 2 && !index_argument(args[2], &end)) {
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    PySlice_AdjustIndices(view.len, &start, &end, 1);
    const unsigned char *data = (const unsigned char *)view.buf;
    uint32_t total = 0;
    Py_ssize_t i = start;
    /* Blocks whose sum cannot overflow 32 bits; the compiler vectorises the inner loop. */
    while (end - i > 0) {
        Py_ssize_t stop = (end - i > (1 << 20)) ? i + (1 << 20) : end;
        uint32_t block = 0;
        for (; i < stop; i++) {
            block += data[i];
        }
        total += block;
    }
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLong((unsigned long)(total & 0xFFFFu));
}

static PyMethodDef methods[] = {
    {"byte_sum", (PyCFunction)(void (*)(void))byte_sum, METH_FASTCALL,
     "byte_sum(data, start=0, end=None) -> sum of data[start:end] modulo 2**16"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_checksum", "The CTI checksum in C (optional).", 0, methods,
};

PyMODINIT_FUNC
PyInit__checksum(void)
{
    return PyModule_Create(&module);
}
