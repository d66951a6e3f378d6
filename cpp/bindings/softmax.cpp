// softmax / log_softmax over the last axis of (rows, n) arrays, GIL released.
#include "checks.hpp"

namespace attnlab::bindings {
namespace {

template <class T>
void forward(const Array<T>& x, bool log, Array<T> out) {
    index_t rows = rows_of(x, "x"), n = x.shape(1);
    T* y = output(out, "out", {rows, n});
    py::gil_scoped_release release;
    softmax_forward<T>(x.data(), rows, n, log, y);
}

template <class T>
void backward(const Array<T>& grad_out, const Array<T>& x, bool log, Array<T> dx) {
    index_t rows = rows_of(x, "x"), n = x.shape(1);
    expect_shape(grad_out, "grad_out", {rows, n});
    T* gx = output(dx, "dx", {rows, n});
    py::gil_scoped_release release;
    softmax_backward<T>(grad_out.data(), x.data(), rows, n, log, gx);
}

template <class T>
void define(py::module_& m) {
    m.def("softmax_forward", &forward<T>, py::arg("x").noconvert(), py::arg("log"),
          py::arg("out").noconvert());
    m.def("softmax_backward", &backward<T>, py::arg("grad_out").noconvert(),
          py::arg("x").noconvert(), py::arg("log"), py::arg("dx").noconvert());
}

}  // namespace

void register_softmax(py::module_& m) {
    define<float>(m);
    define<double>(m);
}

}  // namespace attnlab::bindings
