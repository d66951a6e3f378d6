// layer_norm / rms_norm forward and backward over (rows, n) arrays, GIL released.
#include <optional>

#include "checks.hpp"

namespace attnlab::bindings {
namespace {

template <class T>
const T* optional_row(const std::optional<Array<T>>& a, const char* name, index_t n) {
    if (!a) return nullptr;
    expect_shape(*a, name, {n});
    return a->data();
}

template <class T>
T* optional_output(std::optional<Array<T>>& a, const char* name, index_t n) {
    return a ? output(*a, name, {n}) : nullptr;
}

template <class T>
void layer_norm(const Array<T>& x, const std::optional<Array<T>>& weight,
                const std::optional<Array<T>>& bias, double eps, Array<T> out) {
    index_t rows = rows_of(x, "x"), n = x.shape(1);
    const T* w = optional_row(weight, "weight", n);
    const T* b = optional_row(bias, "bias", n);
    T* y = output(out, "out", {rows, n});
    py::gil_scoped_release release;
    layer_norm_forward<T>(x.data(), rows, n, w, b, eps, y);
}

template <class T>
void layer_norm_grad(const Array<T>& grad_out, const Array<T>& x,
                     const std::optional<Array<T>>& weight, double eps, Array<T> dx,
                     std::optional<Array<T>> dweight, std::optional<Array<T>> dbias) {
    index_t rows = rows_of(x, "x"), n = x.shape(1);
    expect_shape(grad_out, "grad_out", {rows, n});
    const T* w = optional_row(weight, "weight", n);
    T* gx = output(dx, "dx", {rows, n});
    T* gw = optional_output(dweight, "dweight", n);
    T* gb = optional_output(dbias, "dbias", n);
    py::gil_scoped_release release;
    layer_norm_backward<T>(grad_out.data(), x.data(), rows, n, w, eps, gx, gw, gb);
}

template <class T>
void rms_norm(const Array<T>& x, const std::optional<Array<T>>& weight, double eps, Array<T> out) {
    index_t rows = rows_of(x, "x"), n = x.shape(1);
    const T* w = optional_row(weight, "weight", n);
    T* y = output(out, "out", {rows, n});
    py::gil_scoped_release release;
    rms_norm_forward<T>(x.data(), rows, n, w, eps, y);
}

template <class T>
void rms_norm_grad(const Array<T>& grad_out, const Array<T>& x,
                   const std::optional<Array<T>>& weight, double eps, Array<T> dx,
                   std::optional<Array<T>> dweight) {
    index_t rows = rows_of(x, "x"), n = x.shape(1);
    expect_shape(grad_out, "grad_out", {rows, n});
    const T* w = optional_row(weight, "weight", n);
    T* gx = output(dx, "dx", {rows, n});
    T* gw = optional_output(dweight, "dweight", n);
    py::gil_scoped_release release;
    rms_norm_backward<T>(grad_out.data(), x.data(), rows, n, w, eps, gx, gw);
}

template <class T>
void define(py::module_& m) {
    m.def("layer_norm_forward", &layer_norm<T>, py::arg("x").noconvert(),
          py::arg("weight").noconvert().none(true), py::arg("bias").noconvert().none(true),
          py::arg("eps"), py::arg("out").noconvert());
    m.def("layer_norm_backward", &layer_norm_grad<T>, py::arg("grad_out").noconvert(),
          py::arg("x").noconvert(), py::arg("weight").noconvert().none(true), py::arg("eps"),
          py::arg("dx").noconvert(), py::arg("dweight").noconvert().none(true),
          py::arg("dbias").noconvert().none(true));
    m.def("rms_norm_forward", &rms_norm<T>, py::arg("x").noconvert(),
          py::arg("weight").noconvert().none(true), py::arg("eps"), py::arg("out").noconvert());
    m.def("rms_norm_backward", &rms_norm_grad<T>, py::arg("grad_out").noconvert(),
          py::arg("x").noconvert(), py::arg("weight").noconvert().none(true), py::arg("eps"),
          py::arg("dx").noconvert(), py::arg("dweight").noconvert().none(true));
}

}  // namespace

void register_norm(py::module_& m) {
    define<float>(m);
    define<double>(m);
}

}  // namespace attnlab::bindings
