// embedding gather and its scatter-add backward, GIL released.
#include "checks.hpp"

namespace attnlab::bindings {
namespace {

template <class T>
void forward(const IndexArray& indices, const Array<T>& weight, Array<T> out) {
    index_t vocab = rows_of(weight, "weight"), dim = weight.shape(1), n = indices.size();
    expect_indices(indices, "indices", vocab);
    T* o = output(out, "out", {n, dim});
    py::gil_scoped_release release;
    embedding_forward<T>(indices.data(), n, weight.data(), dim, o);
}

template <class T>
void backward(const Array<T>& grad_out, const IndexArray& indices, index_t padding_idx,
              Array<T> dweight) {
    index_t vocab = rows_of(dweight, "dweight"), dim = dweight.shape(1), n = indices.size();
    expect_indices(indices, "indices", vocab);
    expect_shape(grad_out, "grad_out", {n, dim});
    T* d = output(dweight, "dweight", {vocab, dim});
    py::gil_scoped_release release;
    embedding_backward<T>(grad_out.data(), indices.data(), n, vocab, dim, padding_idx, d);
}

template <class T>
void define(py::module_& m) {
    m.def("embedding_forward", &forward<T>, py::arg("indices").noconvert(),
          py::arg("weight").noconvert(), py::arg("out").noconvert());
    m.def("embedding_backward", &backward<T>, py::arg("grad_out").noconvert(),
          py::arg("indices").noconvert(), py::arg("padding_idx"), py::arg("dweight").noconvert());
}

}  // namespace

void register_embedding(py::module_& m) {
    define<float>(m);
    define<double>(m);
}

}  // namespace attnlab::bindings
