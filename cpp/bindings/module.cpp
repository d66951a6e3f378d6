// The private extension module attnlab._core.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <stdexcept>

#include "attnlab/api.hpp"
#include "fp_mode.hpp"
#include "threads.hpp"

namespace py = pybind11;

// Every bindings/<op>.cpp, by the name of its register_<op>: one list declares and calls them.
#define ATTNLAB_BINDINGS(X) \
    X(attention)            \
    X(activation)           \
    X(dropout)              \
    X(embedding)            \
    X(loss)                 \
    X(norm)                 \
    X(positional)           \
    X(softmax)              \
    X(exp)                  \
    X(linear)               \
    X(matmul)               \
    X(workspace)            \
    X(copy)                 \
    X(optim)                \
    X(encoder_layer)        \
    X(decoder_layer)

namespace attnlab::bindings {
#define ATTNLAB_DECLARE(op) void register_##op(py::module_& m);
ATTNLAB_BINDINGS(ATTNLAB_DECLARE)
#undef ATTNLAB_DECLARE
}  // namespace attnlab::bindings

PYBIND11_MODULE(_core, m) {
    m.doc() = "attnlab's SIMD C++ core (private: use attnlab.functional)";
    m.def("available_archs", &attnlab::arch::available,
          "Kernel instruction sets usable on this CPU, best first.");
    m.def("current_arch", &attnlab::arch::current, "The instruction set kernels run on now.");
    m.def("force_arch", &attnlab::arch::force, py::arg("name"),
          "Run kernels on `name` ('' = automatic choice).");
    m.def("peak_gflops", &attnlab::arch::peak_gflops, py::arg("threads"),
          py::call_guard<py::gil_scoped_release>(),
          "Measured float32 FMA throughput of `threads` threads on the current arch, GFLOP/s.");
    m.def("set_num_threads", &attnlab::set_num_threads, py::arg("n"),
          py::call_guard<py::gil_scoped_release>());
    m.def("get_num_threads", &attnlab::get_num_threads);
    // For the tests: runs n pool tasks, task `fail_at` throwing; returns how many tasks ran.
    m.def(
        "_pool_selftest",
        [](std::int64_t n, std::int64_t fail_at) {
            std::atomic<std::int64_t> ran{0};
            py::gil_scoped_release release;
            attnlab::threads::parallel_for(n, [&](std::int64_t task, int) {
                ++ran;
                if (task == fail_at)
                    throw std::runtime_error("task " + std::to_string(task) + " failed");
            });
            return ran.load();
        },
        py::arg("n"), py::arg("fail_at"));
    // For the tests: n tasks, each calling parallel_for over `inner` tasks `calls` times; returns
    // the highest worker index an inner task ran on (0: every inner call ran serially, as a
    // call from inside a task must).
    m.def(
        "_pool_selftest_nested",
        [](std::int64_t n, std::int64_t inner, int calls) {
            std::atomic<int> highest{0};
            py::gil_scoped_release release;
            attnlab::threads::parallel_for(n, [&](std::int64_t, int) {
                for (int c = 0; c < calls; ++c)
                    attnlab::threads::parallel_for(inner, [&](std::int64_t, int worker) {
                        int seen = highest.load();
                        while (worker > seen && !highest.compare_exchange_weak(seen, worker)) {
                        }
                    });
            });
            return highest.load();
        },
        py::arg("n"), py::arg("inner"), py::arg("calls"));
    // For the tests of the denormal policy: the calling thread's floating-point control
    // register (MXCSR, FPCR; 0 where unknown), a setter, and the bits kernels run with.
    m.def("_fp_control", &attnlab::fp_mode::read);
    m.def("_set_fp_control", &attnlab::fp_mode::write, py::arg("word"));
    m.attr("_FLUSH_DENORMALS") = attnlab::fp_mode::kFlushDenormals;
    // For the tests: runs n pool tasks; returns how many saw the flush bits unset.
    m.def(
        "_pool_selftest_unflushed",
        [](std::int64_t n) {
            std::atomic<std::int64_t> unflushed{0};
            py::gil_scoped_release release;
            attnlab::threads::parallel_for(n, [&](std::int64_t, int) {
                using namespace attnlab::fp_mode;
                if ((read() & kFlushDenormals) != kFlushDenormals) ++unflushed;
            });
            return unflushed.load();
        },
        py::arg("n"));
#define ATTNLAB_REGISTER(op) attnlab::bindings::register_##op(m);
    ATTNLAB_BINDINGS(ATTNLAB_REGISTER)
#undef ATTNLAB_REGISTER
}
