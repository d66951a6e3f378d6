// The private extension module attnlab._core.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <stdexcept>

#include "attnlab/api.hpp"
#include "threads.hpp"

namespace py = pybind11;

namespace attnlab::bindings {
void register_attention(py::module_& m);
void register_activation(py::module_& m);
void register_dropout(py::module_& m);
void register_embedding(py::module_& m);
void register_loss(py::module_& m);
void register_norm(py::module_& m);
void register_positional(py::module_& m);
void register_softmax(py::module_& m);
void register_exp(py::module_& m);
void register_linear(py::module_& m);
void register_matmul(py::module_& m);
void register_workspace(py::module_& m);
void register_copy(py::module_& m);
void register_optim(py::module_& m);
void register_encoder_layer(py::module_& m);
}

PYBIND11_MODULE(_core, m) {
    m.doc() = "attnlab's SIMD C++ core (private: use attnlab.functional)";
    m.def("available_archs", &attnlab::arch::available,
          "Kernel instruction sets usable on this CPU, best first.");
    m.def("current_arch", &attnlab::arch::current, "The instruction set kernels run on now.");
    m.def("force_arch", &attnlab::arch::force, py::arg("name"),
          "Run kernels on `name` ('' = automatic choice).");
    m.def("peak_gflops", &attnlab::arch::peak_gflops, py::arg("threads"),
          py::call_guard<py::gil_scoped_release>(),
          "Measured float32 FMA throughput of `threads` threads, GFLOP/s.");
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
                if (task == fail_at) throw std::runtime_error("task " + std::to_string(task) + " failed");
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
    attnlab::bindings::register_attention(m);
    attnlab::bindings::register_activation(m);
    attnlab::bindings::register_dropout(m);
    attnlab::bindings::register_embedding(m);
    attnlab::bindings::register_loss(m);
    attnlab::bindings::register_norm(m);
    attnlab::bindings::register_positional(m);
    attnlab::bindings::register_softmax(m);
    attnlab::bindings::register_exp(m);
    attnlab::bindings::register_linear(m);
    attnlab::bindings::register_matmul(m);
    attnlab::bindings::register_workspace(m);
    attnlab::bindings::register_copy(m);
    attnlab::bindings::register_optim(m);
    attnlab::bindings::register_encoder_layer(m);
}
