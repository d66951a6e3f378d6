// Arrays backed by the core's workspace cache, for large results the caller may drop and ask
// for again (attention weights): their memory goes back to the cache, not to the system, so
// the next call writes into pages already mapped instead of page-faulting fresh ones.
#include "workspace.hpp"
#include "checks.hpp"

namespace attnlab::bindings {
namespace {

struct Block {
    void* data;
    std::size_t capacity;
};

py::array cached_empty(const std::vector<py::ssize_t>& shape, const py::object& dtype_like) {
    const py::dtype dtype = py::dtype::from_args(dtype_like);
    std::size_t bytes = static_cast<std::size_t>(dtype.itemsize());
    for (py::ssize_t n : shape) {
        if (n < 0) throw py::value_error("shape: negative dimension " + std::to_string(n));
        if (__builtin_mul_overflow(bytes, static_cast<std::size_t>(n), &bytes))
            throw py::value_error("shape: the array would exceed the address space");
    }
    auto* block = new Block{nullptr, 0};
    try {
        block->data = workspace::acquire(bytes, block->capacity);
    } catch (...) {
        delete block;
        throw;
    }
    py::capsule owner(block, [](void* p) {
        auto* b = static_cast<Block*>(p);
        workspace::release(b->data, b->capacity);
        delete b;
    });
    return py::array(dtype, shape, {}, block->data, owner);
}

}  // namespace

void register_workspace(py::module_& m) {
    m.def("cached_empty", &cached_empty, py::arg("shape"), py::arg("dtype"),
          "An uninitialized C-contiguous array whose memory returns to the workspace cache.");
    m.def("workspace_cached_bytes", &workspace::cached_bytes,
          "Bytes of freed scratch and arrays the core keeps for reuse.");
    m.def("workspace_trim", &workspace::trim, "Frees everything the workspace cache holds.");
}

}  // namespace attnlab::bindings
