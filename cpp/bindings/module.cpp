// The private extension module attnlab._core.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "attnlab/api.hpp"

namespace py = pybind11;

namespace attnlab::bindings {
void register_attention(py::module_& m);
void register_exp(py::module_& m);
void register_linear(py::module_& m);
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
    attnlab::bindings::register_attention(m);
    attnlab::bindings::register_exp(m);
    attnlab::bindings::register_linear(m);
}
