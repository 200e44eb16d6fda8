/* Channel records built from columns in C: an optional acceleration of
   pyctiarbin.protocol.messages.ChannelTable.records, whose pure-Python path calls the record
   class once per row and gives the same records.

   A status scan of a whole cycler makes hundreds of records of about thirty fields each; called
   from Python, the generated __init__ costs most of the scan. Here each record is allocated as
   object.__new__ would and its slots are filled straight from the columns. messages.py uses
   this only for classes whose __init__ does nothing but store each field in its slot. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

/* The offsets of the member descriptors in ``slots`` (a tuple), after checking that each is
   a writable object slot of ``type`` itself or of a base: anything else could write outside
   the object. Returns NULL with an exception set on failure; PyMem_Free the result. */
static Py_ssize_t *
slot_offsets(PyTypeObject *type, PyObject *slots)
{
    if (!PyTuple_Check(slots)) {
        PyErr_SetString(PyExc_TypeError, "slots must be a tuple");
        return NULL;
    }
    Py_ssize_t fields = PyTuple_GET_SIZE(slots);
    Py_ssize_t *offsets = PyMem_New(Py_ssize_t, fields > 0 ? fields : 1);
    if (offsets == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    PyTypeObject *checked_owner = NULL; /* the slots usually share one owner: checked once */
    for (Py_ssize_t j = 0; j < fields; j++) {
        PyObject *descriptor = PyTuple_GET_ITEM(slots, j);
        if (!Py_IS_TYPE(descriptor, &PyMemberDescr_Type)) {
            PyErr_SetString(PyExc_TypeError, "slots must be member descriptors");
            PyMem_Free(offsets);
            return NULL;
        }
        PyMemberDef *member = ((PyMemberDescrObject *)descriptor)->d_member;
        PyTypeObject *owner = ((PyMemberDescrObject *)descriptor)->d_common.d_type;
        if (owner != checked_owner && PyType_IsSubtype(type, owner)) {
            checked_owner = owner;
        }
        if (member->type != T_OBJECT_EX || (member->flags & READONLY) || owner != checked_owner) {
            PyErr_Format(PyExc_TypeError, "%R is not a writable slot of %R", descriptor, type);
            PyMem_Free(offsets);
            return NULL;
        }
        offsets[j] = member->offset;
    }
    return offsets;
}

/* The class both functions take first, after checking that three arguments came. */
static PyTypeObject *
class_argument(PyObject *const *args, Py_ssize_t nargs, const char *usage)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, usage);
        return NULL;
    }
    if (!PyType_Check(args[0])) {
        PyErr_Format(PyExc_TypeError, "%s: cls must be a class", usage);
        return NULL;
    }
    return (PyTypeObject *)args[0];
}

/* from_columns(cls, slots, columns) -> list of cls

   slots: a tuple of the member descriptors (the __slots__ entries) to fill, in column order;
   columns: a tuple of as many tuples, all of one length (the number of records). */
static PyObject *
from_columns(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyTypeObject *type = class_argument(args, nargs, "from_columns(cls, slots, columns)");
    if (type == NULL) {
        return NULL;
    }
    PyObject *slots = args[1], *columns = args[2];
    if (!PyTuple_Check(columns) || !PyTuple_Check(slots) ||
        PyTuple_GET_SIZE(columns) != PyTuple_GET_SIZE(slots)) {
        PyErr_SetString(PyExc_TypeError, "from_columns: one column (a tuple) per slot");
        return NULL;
    }
    Py_ssize_t fields = PyTuple_GET_SIZE(columns), count = 0;
    for (Py_ssize_t j = 0; j < fields; j++) {
        PyObject *column = PyTuple_GET_ITEM(columns, j);
        if (!PyTuple_Check(column) || (j > 0 && PyTuple_GET_SIZE(column) != count)) {
            PyErr_SetString(PyExc_ValueError, "from_columns: columns are tuples of one length");
            return NULL;
        }
        count = PyTuple_GET_SIZE(column);
    }
    Py_ssize_t *offsets = slot_offsets(type, slots);
    if (offsets == NULL) {
        return NULL;
    }
    PyObject *records = PyList_New(count);
    for (Py_ssize_t i = 0; records != NULL && i < count; i++) {
        PyObject *record = type->tp_alloc(type, 0); /* slots start out NULL */
        if (record == NULL) {
            Py_CLEAR(records);
            break;
        }
        char *base = (char *)record;
        for (Py_ssize_t j = 0; j < fields; j++) {
            PyObject *value = PyTuple_GET_ITEM(PyTuple_GET_ITEM(columns, j), i);
            *(PyObject **)(base + offsets[j]) = Py_NewRef(value);
        }
        PyList_SET_ITEM(records, i, record);
    }
    PyMem_Free(offsets);
    return records;
}

/* copy_as(cls, slots, record) -> a new cls whose slots hold what ``record``'s do

   ``record`` must be an instance of a class having every slot (it is read through the same
   offsets); a slot it leaves unset is an error. */
static PyObject *
copy_as(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyTypeObject *type = class_argument(args, nargs, "copy_as(cls, slots, record)");
    if (type == NULL) {
        return NULL;
    }
    PyObject *slots = args[1], *source = args[2];
    Py_ssize_t *offsets = slot_offsets(Py_TYPE(source), slots);
    if (offsets == NULL) {
        return NULL;
    }
    Py_ssize_t *checked = slot_offsets(type, slots); /* the same offsets, valid in cls too */
    if (checked == NULL) {
        PyMem_Free(offsets);
        return NULL;
    }
    PyMem_Free(checked);
    Py_ssize_t fields = PyTuple_GET_SIZE(slots);
    const char *from = (const char *)source;
    for (Py_ssize_t j = 0; j < fields; j++) {
        if (*(PyObject *const *)(from + offsets[j]) == NULL) {
            PyErr_Format(PyExc_AttributeError, "copy_as: %R is unset", PyTuple_GET_ITEM(slots, j));
            PyMem_Free(offsets);
            return NULL;
        }
    }
    PyObject *record = type->tp_alloc(type, 0);
    if (record != NULL) {
        char *to = (char *)record;
        for (Py_ssize_t j = 0; j < fields; j++) {
            *(PyObject **)(to + offsets[j]) = Py_NewRef(*(PyObject *const *)(from + offsets[j]));
        }
    }
    PyMem_Free(offsets);
    return record;
}

static PyMethodDef methods[] = {
    {"from_columns", (PyCFunction)(void (*)(void))from_columns, METH_FASTCALL,
     "from_columns(cls, slots, columns) -> records of cls with their slots filled from columns"},
    {"copy_as", (PyCFunction)(void (*)(void))copy_as, METH_FASTCALL,
     "copy_as(cls, slots, record) -> a record of cls with the slots of record"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_records", "Channel records built from columns in C (optional).", 0,
    methods,
};

PyMODINIT_FUNC
PyInit__records(void)
{
    return PyModule_Create(&module);
}
