// sgd_step / adam_step: one call per param group. Every array is checked against its parameter
// (dtype, shape, C order, writability) before the GIL is released around the whole group.
#include <initializer_list>
#include <string>

#include "checks.hpp"
#include "layers/optimizer.hpp"

namespace attnlab::bindings {
namespace {

// A list of arrays that goes with the parameters, one per parameter (grads, a state buffer).
struct Companion {
    const char* name;
    const py::list& arrays;
    bool written;
};

std::string item(const char* list, std::size_t i) {
    return std::string(list) + "[" + std::to_string(i) + "]";
}

py::array float_array_at(const py::list& list, const char* name, std::size_t i, bool written) {
    const std::string label = item(name, i);
    py::handle obj = list[i];
    if (!py::isinstance<py::array>(obj))
        throw py::type_error(
            label + ": expected a NumPy array, got " +
            py::str(py::type::handle_of(obj).attr("__name__")).cast<std::string>());
    auto a = py::reinterpret_borrow<py::array>(obj);
    if (!py::isinstance<py::array_t<float>>(a) && !py::isinstance<py::array_t<double>>(a))
        throw py::type_error(label + ": expected dtype float32 or float64, got " +
                             py::str(a.dtype()).cast<std::string>());
    if (!(a.flags() & py::array::c_style))
        throw py::value_error(label + ": expected a C-contiguous array");
    if (written && !a.writeable()) throw py::value_error(label + ": array is read-only");
    return a;
}

// Per parameter: its array, then its array from each companion list, checked against it.
std::vector<std::vector<py::array>> checked_arrays(const py::list& params,
                                                   std::initializer_list<Companion> companions) {
    for (const Companion& c : companions)
        if (c.arrays.size() != params.size())
            throw py::value_error(
                std::string(c.name) + ": expected " + std::to_string(params.size()) +
                " arrays (one per parameter), got " + std::to_string(c.arrays.size()));
    std::vector<std::vector<py::array>> rows;
    for (std::size_t i = 0; i < params.size(); ++i) {
        const py::array p = float_array_at(params, "params", i, true);
        std::vector<py::array> row{p};
        for (const Companion& c : companions) {
            py::array a = float_array_at(c.arrays, c.name, i, c.written);
            if (py::isinstance<py::array_t<float>>(a) != py::isinstance<py::array_t<float>>(p))
                throw py::type_error(item(c.name, i) + ": dtype " +
                                     py::str(a.dtype()).cast<std::string>() + " does not match " +
                                     item("params", i) + "'s dtype " +
                                     py::str(p.dtype()).cast<std::string>());
            expect_shape(a, item(c.name, i).c_str(), shape_of(p));
            row.push_back(std::move(a));
        }
        rows.push_back(std::move(row));
    }
    return rows;
}

template <class T>
bool holds(const py::array& a) {
    return py::isinstance<py::array_t<T>>(a);
}

template <class T>
T* written(py::array& a) {
    return static_cast<T*>(a.mutable_data());
}

template <class T>
const T* read(const py::array& a) {
    return static_cast<const T*>(a.data());
}

// Of the parameters of dtype T, in order, the buffers make(T{}, row, i) gives.
template <class T, class Make>
auto buffers_of(std::vector<std::vector<py::array>>& rows, const Make& make) {
    std::vector<decltype(make(T{}, rows[0], std::size_t{0}))> out;
    for (std::size_t i = 0; i < rows.size(); ++i)
        if (holds<T>(rows[i][0])) out.push_back(make(T{}, rows[i], i));
    return out;
}

void sgd(const py::list& params, const py::list& grads, const py::list& momentum_buffers,
         const std::vector<bool>& fresh_buffers, double lr, double momentum, double dampening,
         double weight_decay, bool nesterov, bool maximize) {
    const bool with_buffers = momentum != 0;
    auto rows = with_buffers
                    ? checked_arrays(params, {{"grads", grads, false},
                                              {"momentum_buffers", momentum_buffers, true}})
                    : checked_arrays(params, {{"grads", grads, false}});
    if (!with_buffers && !momentum_buffers.empty())
        throw py::value_error("momentum_buffers: expected none when momentum is 0");
    if (fresh_buffers.size() != (with_buffers ? params.size() : 0))
        throw py::value_error(
            "fresh_buffers: expected one flag per parameter when momentum is "
            "not 0, none otherwise");
    const layers::SgdOptions options{lr, momentum, dampening, weight_decay, nesterov, maximize};
    auto make = [&](auto zero, std::vector<py::array>& r, std::size_t i) {
        using T = decltype(zero);
        return layers::SgdBuffers<T>{
            written<T>(r[0]), read<T>(r[1]), r.size() > 2 ? written<T>(r[2]) : nullptr,
            static_cast<index_t>(r[0].size()), with_buffers && fresh_buffers[i]};
    };
    auto f32 = buffers_of<float>(rows, make);
    auto f64 = buffers_of<double>(rows, make);
    py::gil_scoped_release release;
    layers::sgd_step(f32, options);
    layers::sgd_step(f64, options);
}

void adam(const py::list& params, const py::list& grads, const py::list& exp_avgs,
          const py::list& exp_avg_sqs, const py::list& max_exp_avg_sqs,
          const std::vector<index_t>& steps, double lr, double beta1, double beta2, double eps,
          double weight_decay, bool decoupled_weight_decay, bool amsgrad, bool maximize) {
    auto rows = amsgrad ? checked_arrays(params, {{"grads", grads, false},
                                                  {"exp_avgs", exp_avgs, true},
                                                  {"exp_avg_sqs", exp_avg_sqs, true},
                                                  {"max_exp_avg_sqs", max_exp_avg_sqs, true}})
                        : checked_arrays(params, {{"grads", grads, false},
                                                  {"exp_avgs", exp_avgs, true},
                                                  {"exp_avg_sqs", exp_avg_sqs, true}});
    if (!amsgrad && !max_exp_avg_sqs.empty())
        throw py::value_error("max_exp_avg_sqs: expected none without amsgrad");
    if (steps.size() != params.size())
        throw py::value_error("steps: expected " + std::to_string(params.size()) +
                              " step counts (one per parameter), got " +
                              std::to_string(steps.size()));
    for (std::size_t i = 0; i < steps.size(); ++i)
        if (steps[i] < 1)
            throw py::value_error(item("steps", i) + ": expected a step count >= 1, got " +
                                  std::to_string(steps[i]));
    const layers::AdamOptions options{
        lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, amsgrad, maximize};
    auto make = [&](auto zero, std::vector<py::array>& r, std::size_t i) {
        using T = decltype(zero);
        return layers::AdamBuffers<T>{written<T>(r[0]),
                                      read<T>(r[1]),
                                      written<T>(r[2]),
                                      written<T>(r[3]),
                                      r.size() > 4 ? written<T>(r[4]) : nullptr,
                                      static_cast<index_t>(r[0].size()),
                                      steps[i]};
    };
    auto f32 = buffers_of<float>(rows, make);
    auto f64 = buffers_of<double>(rows, make);
    py::gil_scoped_release release;
    layers::adam_step(f32, options);
    layers::adam_step(f64, options);
}

}  // namespace

void register_optim(py::module_& m) {
    m.def("sgd_step", &sgd, py::arg("params"), py::arg("grads"), py::arg("momentum_buffers"),
          py::arg("fresh_buffers"), py::arg("lr"), py::arg("momentum"), py::arg("dampening"),
          py::arg("weight_decay"), py::arg("nesterov"), py::arg("maximize"),
          "One SGD step of every parameter of a group, in place (torch.optim.SGD's update).");
    m.def("adam_step", &adam, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"),
          py::arg("exp_avg_sqs"), py::arg("max_exp_avg_sqs"), py::arg("steps"), py::arg("lr"),
          py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
          py::arg("decoupled_weight_decay"), py::arg("amsgrad"), py::arg("maximize"),
          "One Adam/AdamW step of every parameter of a group, in place (torch.optim's update).");
}

}  // namespace attnlab::bindings
