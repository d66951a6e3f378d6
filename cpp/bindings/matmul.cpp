// matmul(a, b, c): c (..., m, n) = a (..., m, k) @ b (..., k, n) on any strides, batch axes
// broadcast as np.matmul does them (aligned from the right, size 1 or missing = broadcast);
// c is the C-contiguous output with the broadcast batch shape.
#include <algorithm>
#include <string>
#include <vector>

#include "checks.hpp"

namespace attnlab::bindings {
namespace {

// One batch axis: its size and the element strides of a, b and c along it.
struct BatchAxis {
    index_t size, a, b, c;
};

std::string axis_str(py::ssize_t axis) { return "axis " + std::to_string(axis); }

// Element stride of axis `axis` of `x` (0 when its size is 1: never stepped along).
index_t element_stride(const py::array& x, py::ssize_t axis, const char* name) {
    if (x.shape(axis) == 1) return 0;
    const index_t bytes = x.strides(axis), item = x.itemsize();
    if (bytes % item != 0)
        throw py::value_error(std::string(name) + ": " + axis_str(axis) + " has stride " +
                              std::to_string(bytes) + " bytes, not a multiple of the item size " +
                              std::to_string(item));
    return bytes / item;
}

// The bytes [lo, hi) that a non-empty `x` spans.
std::pair<const char*, const char*> extent(const py::array& x) {
    const char* lo = static_cast<const char*>(x.data());
    const char* hi = lo + x.itemsize();
    for (py::ssize_t i = 0; i < x.ndim(); ++i) {
        const index_t reach = (x.shape(i) - 1) * x.strides(i);
        (reach < 0 ? lo : hi) += reach;
    }
    return {lo, hi};
}

void expect_disjoint(const py::array& out, const py::array& in, const char* name) {
    const auto [out_lo, out_hi] = extent(out);
    const auto [in_lo, in_hi] = extent(in);
    if (out_lo < in_hi && in_lo < out_hi)
        throw py::value_error(std::string("c: output overlaps ") + name);
}

template <class T>
void run(const py::array& a, const py::array& b, py::array& c) {
    if (!py::isinstance<py::array_t<T>>(b))
        throw py::type_error("b: dtype " + std::string(py::str(b.dtype())) +
                             " does not match a's dtype " + std::string(py::str(a.dtype())));
    if (!py::isinstance<py::array_t<T>>(c))
        throw py::type_error("c: dtype " + std::string(py::str(c.dtype())) +
                             " does not match a's dtype " + std::string(py::str(a.dtype())));
    if (a.ndim() < 2)
        throw py::value_error("a: expected at least 2 dimensions (..., m, k), got " + shape_str(a));
    if (b.ndim() < 2)
        throw py::value_error("b: expected at least 2 dimensions (..., k, n), got " + shape_str(b));
    const py::ssize_t nd = std::max(a.ndim(), b.ndim());
    const index_t m = a.shape(a.ndim() - 2), k = a.shape(a.ndim() - 1), n = b.shape(b.ndim() - 1);
    if (b.shape(b.ndim() - 2) != k)
        throw py::value_error("b: " + axis_str(b.ndim() - 2) + " (k) has size " +
                              std::to_string(b.shape(b.ndim() - 2)) + ", expected " +
                              std::to_string(k) + " (a's last axis)");
    std::vector<index_t> want(nd);
    for (py::ssize_t i = 0; i < nd - 2; ++i) {
        const py::ssize_t ia = i - (nd - a.ndim()), ib = i - (nd - b.ndim());
        const index_t sa = ia >= 0 ? a.shape(ia) : 1, sb = ib >= 0 ? b.shape(ib) : 1;
        if (sa != sb && sa != 1 && sb != 1)
            throw py::value_error("b: batch " + axis_str(ib) + " has size " + std::to_string(sb) +
                                  ", expected " + std::to_string(sa) + " or 1 (a's " +
                                  axis_str(ia) + ")");
        want[i] = sb == 1 ? sa : sb;  // a size 0 broadcasts against 1 to 0
    }
    want[nd - 2] = m;
    want[nd - 1] = n;
    expect_shape(c, "c", want);
    if (!(c.flags() & py::array::c_style)) throw py::value_error("c: output must be C-contiguous");
    if (!c.writeable()) throw py::value_error("c: output array is read-only");
    if (c.size() == 0) return;
    if (k > 0) {
        expect_disjoint(c, a, "a");
        expect_disjoint(c, b, "b");
    }

    // Batch axes of size > 1, merged where a, b and c all step evenly across them; the last
    // one is the driver's batch axis, the others are looped over here.
    std::vector<BatchAxis> axes;
    index_t c_stride = m * n;
    for (py::ssize_t i = nd - 3; i >= 0; --i) {
        const py::ssize_t ia = i - (nd - a.ndim()), ib = i - (nd - b.ndim());
        const index_t sa = ia >= 0 ? element_stride(a, ia, "a") : 0;
        const index_t sb = ib >= 0 ? element_stride(b, ib, "b") : 0;
        const BatchAxis axis{want[i], sa, sb, c_stride};
        c_stride *= want[i];
        if (axis.size == 1) continue;
        if (!axes.empty()) {
            BatchAxis& inner = axes.back();
            if (axis.a == inner.a * inner.size && axis.b == inner.b * inner.size &&
                axis.c == inner.c * inner.size) {
                inner.size *= axis.size;
                continue;
            }
        }
        axes.push_back(axis);
    }
    if (axes.empty()) axes.push_back({1, 0, 0, m * n});
    const BatchAxis inner = axes.front();
    axes.erase(axes.begin());  // the outer axes, innermost first

    const T* a_data = static_cast<const T*>(a.data());
    const T* b_data = static_cast<const T*>(b.data());
    T* c_data = static_cast<T*>(c.mutable_data());
    const index_t a_row = element_stride(a, a.ndim() - 2, "a"),
                  a_col = element_stride(a, a.ndim() - 1, "a");
    const index_t b_row = element_stride(b, b.ndim() - 2, "b"),
                  b_col = element_stride(b, b.ndim() - 1, "b");
    py::gil_scoped_release release;
    std::vector<index_t> at(axes.size(), 0);
    for (;;) {
        index_t oa = 0, ob = 0, oc = 0;
        for (std::size_t i = 0; i < axes.size(); ++i) {
            oa += at[i] * axes[i].a;
            ob += at[i] * axes[i].b;
            oc += at[i] * axes[i].c;
        }
        matmul<T>(inner.size, m, n, k, {a_data + oa, inner.a, a_row, a_col},
                  {b_data + ob, inner.b, b_row, b_col}, c_data + oc);
        std::size_t i = 0;
        for (; i < axes.size() && ++at[i] == axes[i].size; ++i) at[i] = 0;
        if (i == axes.size()) break;
    }
}

void matmul_binding(const py::array& a, const py::array& b, py::array c) {
    if (py::isinstance<py::array_t<float>>(a)) return run<float>(a, b, c);
    if (py::isinstance<py::array_t<double>>(a)) return run<double>(a, b, c);
    throw py::type_error("a: expected dtype float32 or float64, got " +
                         std::string(py::str(a.dtype())));
}

}  // namespace

void register_matmul(py::module_& m) {
    m.def("matmul", &matmul_binding, py::arg("a").noconvert(), py::arg("b").noconvert(),
          py::arg("c").noconvert());
}

}  // namespace attnlab::bindings
