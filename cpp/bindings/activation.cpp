// Element-wise activations over arrays of any shape, GIL released.
#include <string>

#include "checks.hpp"

namespace attnlab::bindings {
namespace {

Activation activation_kind(const std::string& name) {
    return named_choice<Activation>(name, "kind",
                                    {{"relu", Activation::relu},
                                     {"silu", Activation::silu},
                                     {"gelu", Activation::gelu},
                                     {"gelu_tanh", Activation::gelu_tanh}});
}

template <class T>
void forward(const std::string& kind, const Array<T>& x, Array<T> out) {
    Activation f = activation_kind(kind);
    T* y = output(out, "out", shape_of(x));
    py::gil_scoped_release release;
    activation_forward<T>(f, x.data(), x.size(), y);
}

template <class T>
void backward(const std::string& kind, const Array<T>& grad_out, const Array<T>& x, Array<T> dx) {
    Activation f = activation_kind(kind);
    expect_shape(grad_out, "grad_out", shape_of(x));
    T* gx = output(dx, "dx", shape_of(x));
    py::gil_scoped_release release;
    activation_backward<T>(f, grad_out.data(), x.data(), x.size(), gx);
}

template <class T>
void define(py::module_& m) {
    m.def("activation_forward", &forward<T>, py::arg("kind"), py::arg("x").noconvert(),
          py::arg("out").noconvert());
    m.def("activation_backward", &backward<T>, py::arg("kind"), py::arg("grad_out").noconvert(),
          py::arg("x").noconvert(), py::arg("dx").noconvert());
}

}  // namespace

void register_activation(py::module_& m) {
    define<float>(m);
    define<double>(m);
}

}  // namespace attnlab::bindings
