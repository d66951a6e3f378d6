// Functional dropout over arrays of any shape, GIL released.
#include "checks.hpp"

namespace attnlab::bindings {
namespace {

// first: the flat index of x's first element in the mask (tests aim it past 2^32).
template <class T>
void dropout(const Array<T>& x, double p, std::uint64_t seed, Array<T> out, index_t first) {
    if (!(p >= 0.0 && p < 1.0)) throw py::value_error("p: must be in [0, 1)");
    if (first < 0 || first > kUnbounded - x.size())
        throw py::value_error("first: expected 0 <= first <= 2**63 - 1 - x.size, got " +
                              std::to_string(first));
    T* y = output(out, "out", shape_of(x));
    py::gil_scoped_release release;
    dropout_forward<T>(x.data(), x.size(), p, seed, y, first);
}

template <class T>
void define(py::module_& m) {
    m.def("dropout_forward", &dropout<T>, py::arg("x").noconvert(), py::arg("p"), py::arg("seed"),
          py::arg("out").noconvert(), py::arg("first") = 0);
}

}  // namespace

void register_dropout(py::module_& m) {
    define<float>(m);
    define<double>(m);
}

}  // namespace attnlab::bindings
