// copy_into: a strided copy on the pool, for the layout changes around multi-head attention
// ((B, L, H, D) <-> (B, H, L, D)) that NumPy does one short row at a time on one core.
#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "checks.hpp"
#include "threads.hpp"

namespace attnlab::bindings {
namespace {

// Rows handed to one pool task: enough that a task outlasts its dispatch.
constexpr index_t kRowsPerTask = 1024;

// One row of `bytes` bytes, in 64-byte pieces the compiler copies inline (a call to memcpy
// per 64-byte row of a head dim 16 costs more than the copy).
inline void copy_row(char* dst, const char* src, index_t bytes) {
    index_t off = 0;
    for (; off + 64 <= bytes; off += 64) std::memcpy(dst + off, src + off, 64);
    if (off < bytes) std::memcpy(dst + off, src + off, static_cast<std::size_t>(bytes - off));
}

// Walks the rows (every axis but the last, row-major) of two arrays of one shape from row
// `row` on, keeping both byte offsets: an odometer, not a division per row.
class RowWalk {
public:
    RowWalk(index_t row, const py::ssize_t* shape, const py::ssize_t* a_strides,
            const py::ssize_t* b_strides, py::ssize_t axes)
        : shape_(shape), a_strides_(a_strides), b_strides_(b_strides), axes_(axes),
          index_(static_cast<std::size_t>(axes)) {
        for (py::ssize_t axis = axes - 1; axis >= 0; --axis) {
            index_[axis] = row % shape[axis];
            row /= shape[axis];
            a_ += index_[axis] * a_strides[axis];
            b_ += index_[axis] * b_strides[axis];
        }
    }
    index_t a() const { return a_; }
    index_t b() const { return b_; }
    void next() {
        for (py::ssize_t axis = axes_ - 1; axis >= 0; --axis) {
            a_ += a_strides_[axis];
            b_ += b_strides_[axis];
            if (++index_[axis] < shape_[axis]) return;
            a_ -= shape_[axis] * a_strides_[axis];
            b_ -= shape_[axis] * b_strides_[axis];
            index_[axis] = 0;
        }
    }

private:
    const py::ssize_t *shape_, *a_strides_, *b_strides_;
    py::ssize_t axes_;
    std::vector<index_t> index_;
    index_t a_ = 0, b_ = 0;
};

void copy_into(py::array dst, const py::array& src) {
    if (!dst.writeable()) throw py::value_error("dst: the array is read-only");
    if (dst.dtype().attr("hasobject").cast<bool>())
        throw py::type_error("dst: object arrays hold references, not bytes to copy");
    if (!dst.dtype().is(src.dtype()))
        throw py::value_error("src: dtype " + std::string(py::str(src.dtype())) +
                              " does not match dst's " + std::string(py::str(dst.dtype())));
    expect_shape(src, "src", shape_of(dst));
    const py::ssize_t ndim = dst.ndim(), item = dst.itemsize();
    if (dst.size() == 0) return;
    if (ndim == 0) {
        std::memcpy(dst.mutable_data(), src.data(), static_cast<std::size_t>(item));
        return;
    }
    const index_t width = dst.shape(ndim - 1);
    for (const auto& [a, name] :
         {std::pair<const py::array*, const char*>{&dst, "dst"}, {&src, "src"}})
        if (width > 1 && a->strides(ndim - 1) != item)
            throw py::value_error(std::string(name) + ": the last axis must be contiguous");
    const index_t rows = dst.size() / width, bytes = width * item;
    char* out = static_cast<char*>(dst.mutable_data());
    const char* in = static_cast<const char*>(src.data());
    const py::ssize_t *shape = dst.shape(), *out_strides = dst.strides(),
                      *in_strides = src.strides();
    py::gil_scoped_release release;
    threads::parallel_for((rows + kRowsPerTask - 1) / kRowsPerTask, [&](index_t task, int) {
        const index_t begin = task * kRowsPerTask, end = std::min(rows, begin + kRowsPerTask);
        RowWalk walk(begin, shape, out_strides, in_strides, ndim - 1);
        for (index_t row = begin; row < end; ++row, walk.next())
            copy_row(out + walk.a(), in + walk.b(), bytes);
    });
}

}  // namespace

void register_copy(py::module_& m) {
    m.def("copy_into", &copy_into, py::arg("dst"), py::arg("src"),
          "dst[...] = src for arrays of one shape and dtype whose last axes are contiguous, "
          "on the pool (the two must not overlap).");
}

}  // namespace attnlab::bindings
