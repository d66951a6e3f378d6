// Rotary position embedding over (rows, dim) arrays, GIL released.
#include "checks.hpp"

namespace attnlab::bindings {
namespace {

template <class T>
void rope(const Array<T>& x, const Array<double>& positions, index_t rotary_dim, bool interleaved,
          double base, bool inverse, Array<T> out) {
    index_t rows = rows_of(x, "x"), dim = x.shape(1), np = positions.size();
    if (positions.ndim() != 1) throw py::value_error("positions: expected 1 dimension");
    if (rows > 0 && (np == 0 || rows % np != 0))
        throw py::value_error("positions: " + std::to_string(np) + " positions do not divide " +
                              std::to_string(rows) + " rows");
    if (rotary_dim < 0 || rotary_dim % 2 != 0 || rotary_dim > dim)
        throw py::value_error("rotary_dim: must be even and in [0, dim]");
    if (!(base > 0.0)) throw py::value_error("base: must be > 0");
    T* y = output(out, "out", {rows, dim});
    RopeOptions o{rotary_dim, interleaved, base};
    py::gil_scoped_release release;
    rope_forward<T>(x.data(), rows, dim, positions.data(), np, o, inverse, y);
}

template <class T>
void define(py::module_& m) {
    m.def("rope_forward", &rope<T>, py::arg("x").noconvert(), py::arg("positions").noconvert(),
          py::arg("rotary_dim"), py::arg("interleaved"), py::arg("base"), py::arg("inverse"),
          py::arg("out").noconvert());
}

}  // namespace

void register_positional(py::module_& m) {
    define<float>(m);
    define<double>(m);
}

}  // namespace attnlab::bindings
