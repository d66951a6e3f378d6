// cross_entropy per-row losses and their gradient over (rows, classes) logits, GIL released.
#include "checks.hpp"

namespace attnlab::bindings {
namespace {

template <class T>
CrossEntropyOptions prepare(const Array<T>& logits, const IndexArray& target, index_t ignore_index,
                            double label_smoothing) {
    index_t rows = rows_of(logits, "logits");
    expect_shape(target, "target", {rows});
    if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
        throw py::value_error("label_smoothing: must be in [0, 1]");
    if (rows > 0 && logits.shape(1) == 0) throw py::value_error("logits: no classes");
    expect_indices(target, "target", logits.shape(1), ignore_index);
    return {ignore_index, label_smoothing};
}

template <class T>
void forward(const Array<T>& logits, const IndexArray& target, index_t ignore_index,
             double label_smoothing, Array<T> loss) {
    CrossEntropyOptions o = prepare(logits, target, ignore_index, label_smoothing);
    index_t rows = logits.shape(0), classes = logits.shape(1);
    T* l = output(loss, "loss", {rows});
    py::gil_scoped_release release;
    cross_entropy_forward<T>(logits.data(), target.data(), rows, classes, o, l);
}

template <class T>
void backward(const Array<T>& row_grad, const Array<T>& logits, const IndexArray& target,
              index_t ignore_index, double label_smoothing, Array<T> dlogits) {
    CrossEntropyOptions o = prepare(logits, target, ignore_index, label_smoothing);
    index_t rows = logits.shape(0), classes = logits.shape(1);
    expect_shape(row_grad, "row_grad", {rows});
    T* g = output(dlogits, "dlogits", {rows, classes});
    py::gil_scoped_release release;
    cross_entropy_backward<T>(row_grad.data(), logits.data(), target.data(), rows, classes, o, g);
}

template <class T>
void define(py::module_& m) {
    m.def("cross_entropy_forward", &forward<T>, py::arg("logits").noconvert(),
          py::arg("target").noconvert(), py::arg("ignore_index"), py::arg("label_smoothing"),
          py::arg("loss").noconvert());
    m.def("cross_entropy_backward", &backward<T>, py::arg("row_grad").noconvert(),
          py::arg("logits").noconvert(), py::arg("target").noconvert(), py::arg("ignore_index"),
          py::arg("label_smoothing"), py::arg("dlogits").noconvert());
}

}  // namespace

void register_loss(py::module_& m) {
    define<float>(m);
    define<double>(m);
}

}  // namespace attnlab::bindings
