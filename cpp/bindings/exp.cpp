// _exp(x, variant="general"): a vectorized exp on any float32/float64 array, for the accuracy
// tests: "general" (the softmax's exp), "nonpositive" (exp for x <= 0, GELU's) or
// "base2_nonpositive" (2^x for x <= 0, the attention softmax's).
#include "checks.hpp"

namespace attnlab::bindings {
namespace {

ExpVariant exp_variant(const std::string& name) {
    return named_choice<ExpVariant>(name, "variant",
                                    {{"general", ExpVariant::general},
                                     {"nonpositive", ExpVariant::nonpositive},
                                     {"base2_nonpositive", ExpVariant::base2_nonpositive}});
}

template <class T>
py::array_t<T> exp(const Array<T>& x, const std::string& variant) {
    const ExpVariant kind = exp_variant(variant);
    py::array_t<T> out(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    const T* src = x.data();
    T* dst = out.mutable_data();
    index_t n = x.size();
    py::gil_scoped_release release;
    vector_exp<T>(src, n, kind, dst);
    return out;
}

}  // namespace

void register_exp(py::module_& m) {
    m.def("_exp", &exp<float>, py::arg("x").noconvert(), py::arg("variant") = "general",
          "exp(x) (or 2^x) by one of the SIMD kernels, for their accuracy tests.");
    m.def("_exp", &exp<double>, py::arg("x").noconvert(), py::arg("variant") = "general");
}

}  // namespace attnlab::bindings
