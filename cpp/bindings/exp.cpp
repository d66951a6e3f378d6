// _exp(x, nonpositive=False): the softmax's vectorized exp on any float32/float64 array, or the
// attention softmax's for x <= 0, for their accuracy tests.
#include "checks.hpp"

namespace attnlab::bindings {
namespace {

template <class T>
py::array_t<T> exp(const Array<T>& x, bool nonpositive) {
    py::array_t<T> out(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    const T* src = x.data();
    T* dst = out.mutable_data();
    index_t n = x.size();
    py::gil_scoped_release release;
    vector_exp<T>(src, n, nonpositive, dst);
    return out;
}

}  // namespace

void register_exp(py::module_& m) {
    m.def("_exp", &exp<float>, py::arg("x").noconvert(), py::arg("nonpositive") = false,
          "exp(x) by the SIMD kernel; nonpositive=True: the attention softmax's, for x <= 0.");
    m.def("_exp", &exp<double>, py::arg("x").noconvert(), py::arg("nonpositive") = false);
}

}  // namespace attnlab::bindings
