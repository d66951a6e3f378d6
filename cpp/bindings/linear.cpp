// linear_forward / linear_backward on 2-D C-contiguous arrays (Python flattens leading dims).
#include <optional>

#include "checks.hpp"

namespace attnlab::bindings {
namespace {

template <class T>
void forward(const Array<T>& x, const Array<T>& w, const std::optional<Array<T>>& bias,
             Array<T> y) {
    if (x.ndim() != 2) throw py::value_error("x: expected 2 dimensions (N, in)");
    if (w.ndim() != 2) throw py::value_error("weight: expected 2 dimensions (out, in)");
    const index_t n = x.shape(0), in = x.shape(1), out = w.shape(0);
    expect_shape(w, "weight", {out, in});
    if (bias) expect_shape(*bias, "bias", {out});
    T* dst = output(y, "y", {n, out});
    const T* b = bias ? bias->data() : nullptr;
    py::gil_scoped_release release;
    linear_forward<T>(x.data(), n, in, w.data(), out, b, dst);
}

// dx, dweight and dbias may each be None: autograd asks only for the gradients it needs.
template <class T>
void backward(const Array<T>& grad_out, const Array<T>& x, const Array<T>& w,
              std::optional<Array<T>> dx, std::optional<Array<T>> dw,
              std::optional<Array<T>> dbias) {
    if (x.ndim() != 2) throw py::value_error("x: expected 2 dimensions (N, in)");
    if (w.ndim() != 2) throw py::value_error("weight: expected 2 dimensions (out, in)");
    const index_t n = x.shape(0), in = x.shape(1), out = w.shape(0);
    expect_shape(w, "weight", {out, in});
    expect_shape(grad_out, "grad_out", {n, out});
    T* gx = dx ? output(*dx, "dx", {n, in}) : nullptr;
    T* gw = dw ? output(*dw, "dweight", {out, in}) : nullptr;
    T* gb = dbias ? output(*dbias, "dbias", {out}) : nullptr;
    py::gil_scoped_release release;
    linear_backward<T>(grad_out.data(), x.data(), w.data(), n, in, out, gx, gw, gb);
}

template <class T>
void define(py::module_& m) {
    m.def("linear_forward", &forward<T>, py::arg("x").noconvert(), py::arg("weight").noconvert(),
          py::arg("bias").noconvert().none(true), py::arg("y").noconvert());
    m.def("linear_backward", &backward<T>, py::arg("grad_out").noconvert(),
          py::arg("x").noconvert(), py::arg("weight").noconvert(),
          py::arg("dx").noconvert().none(true), py::arg("dweight").noconvert().none(true),
          py::arg("dbias").noconvert().none(true));
}

}  // namespace

void register_linear(py::module_& m) {
    define<float>(m);
    define<double>(m);
}

}  // namespace attnlab::bindings
