// attention_forward / attention_backward: shape checks, then the kernel with the GIL released.
#include <optional>

#include "attention_plan.hpp"
#include "checks.hpp"

namespace attnlab::bindings {
namespace {

template <class T>
struct Call {
    AttentionShape shape;
    AttentionInputs<T> in;
    AttentionOptions opt;
};

// Checks q (B, H, Lq, D), k (B, Hkv, Lk, D), v (B, Hkv, Lk, Dv), mask and bias, and collects
// what the kernels need.
template <class T>
Call<T> prepare(const Array<T>& q, const Array<T>& k, const Array<T>& v,
                const std::optional<py::array>& mask, const std::optional<py::array>& bias,
                const std::optional<py::array>& alibi_slopes, const AttentionOptions& options) {
    if (q.ndim() != 4) throw py::value_error("q: expected 4 dimensions (B, H, Lq, D)");
    AttentionShape s;
    s.batch = q.shape(0);
    s.heads = q.shape(1);
    s.lq = q.shape(2);
    s.dim = q.shape(3);
    if (k.ndim() != 4) throw py::value_error("k: expected 4 dimensions (B, Hkv, Lk, D)");
    s.kv_heads = k.shape(1);
    s.lk = k.shape(2);
    expect_shape(k, "k", {s.batch, s.kv_heads, s.lk, s.dim});
    if (v.ndim() != 4) throw py::value_error("v: expected 4 dimensions (B, Hkv, Lk, Dv)");
    s.dim_v = v.shape(3);
    expect_shape(v, "v", {s.batch, s.kv_heads, s.lk, s.dim_v});
    if (s.kv_heads == 0 ? s.heads != 0 : s.heads % s.kv_heads != 0)
        throw py::value_error("k: kv heads (" + std::to_string(s.kv_heads) +
                              ") must divide q heads (" + std::to_string(s.heads) + ")");
    if (!(options.dropout_p >= 0.0 && options.dropout_p < 1.0))
        throw py::value_error("dropout_p: must be in [0, 1)");
    if (options.window_left < 0 || options.window_right < 0)
        throw py::value_error("window: must be >= 0");

    Call<T> c;
    c.shape = s;
    c.in.q = q.data();
    c.in.k = k.data();
    c.in.v = v.data();
    if (mask) {
        if (!py::isinstance<py::array_t<bool>>(*mask))
            throw py::type_error("mask: expected a bool array");
        c.in.mask = broadcast4<std::uint8_t>(*mask, "mask", s);
    }
    if (bias) {
        if (!py::isinstance<py::array_t<T>>(*bias))
            throw py::type_error("bias: expected the dtype of q");
        c.in.bias = broadcast4<T>(*bias, "bias", s);
    }
    if (alibi_slopes) {
        if (!py::isinstance<Array<T>>(*alibi_slopes))
            throw py::type_error("alibi_slopes: expected a contiguous array of q's dtype");
        expect_shape(*alibi_slopes, "alibi_slopes", {s.heads});
        c.in.alibi_slopes = static_cast<const T*>(alibi_slopes->data());
    }
    c.opt = options;
    return c;
}

template <class T>
void forward(const Array<T>& q, const Array<T>& k, const Array<T>& v,
             const std::optional<py::array>& mask, const std::optional<py::array>& bias,
             const std::optional<py::array>& alibi_slopes, const AttentionOptions& options,
             Array<T> out, std::optional<Array<T>> weights, std::optional<Array<T>> row_max_base2,
             std::optional<Array<T>> row_inv) {
    Call<T> c = prepare(q, k, v, mask, bias, alibi_slopes, options);
    const AttentionShape& s = c.shape;
    T* o = output(out, "out", {s.batch, s.heads, s.lq, s.dim_v});
    T* w = weights ? output(*weights, "weights", {s.batch, s.heads, s.lq, s.lk}) : nullptr;
    if (row_max_base2.has_value() != row_inv.has_value())
        throw py::value_error("row_max_base2, row_inv: pass both or neither");
    SoftmaxStats<T> stats;
    if (row_max_base2) {
        stats.row_max_base2 = output(*row_max_base2, "row_max_base2", {s.batch, s.heads, s.lq});
        stats.row_inv = output(*row_inv, "row_inv", {s.batch, s.heads, s.lq});
    }
    py::gil_scoped_release release;
    attention_forward<T>(s, c.in, c.opt, o, w, stats);
}

template <class T>
void backward(const Array<T>& grad_out, const Array<T>& q, const Array<T>& k, const Array<T>& v,
              const std::optional<py::array>& mask, const std::optional<py::array>& bias,
              const std::optional<py::array>& alibi_slopes, const AttentionOptions& options,
              Array<T> dq, Array<T> dk, Array<T> dv, std::optional<Array<T>> dscores,
              const std::optional<Array<T>>& out, const std::optional<Array<T>>& row_max_base2,
              const std::optional<Array<T>>& row_inv) {
    Call<T> c = prepare(q, k, v, mask, bias, alibi_slopes, options);
    const AttentionShape& s = c.shape;
    expect_shape(grad_out, "grad_out", {s.batch, s.heads, s.lq, s.dim_v});
    T* gq = output(dq, "dq", {s.batch, s.heads, s.lq, s.dim});
    T* gk = output(dk, "dk", {s.batch, s.kv_heads, s.lk, s.dim});
    T* gv = output(dv, "dv", {s.batch, s.kv_heads, s.lk, s.dim_v});
    T* gs = dscores ? output(*dscores, "dscores", {s.batch, s.heads, s.lq, s.lk}) : nullptr;
    if (out.has_value() != row_max_base2.has_value() || out.has_value() != row_inv.has_value())
        throw py::value_error(
            "out, row_max_base2, row_inv: pass all three (the forward's) or none");
    const T* o = nullptr;
    SoftmaxStats<const T> saved;
    if (out) {
        expect_shape(*out, "out", {s.batch, s.heads, s.lq, s.dim_v});
        expect_shape(*row_max_base2, "row_max_base2", {s.batch, s.heads, s.lq});
        expect_shape(*row_inv, "row_inv", {s.batch, s.heads, s.lq});
        o = out->data();
        saved = {row_max_base2->data(), row_inv->data()};
    }
    py::gil_scoped_release release;
    attention_backward<T>(s, c.in, c.opt, grad_out.data(), gq, gk, gv, gs, o, saved);
}

template <class T>
void define(py::module_& m) {
    m.def("attention_forward", &forward<T>, py::arg("q").noconvert(), py::arg("k").noconvert(),
          py::arg("v").noconvert(), py::arg("mask").none(true), py::arg("bias").none(true),
          py::arg("alibi_slopes").none(true), py::arg("options"), py::arg("out").noconvert(),
          py::arg("weights").noconvert().none(true),
          py::arg("row_max_base2").noconvert().none(true) = py::none(),
          py::arg("row_inv").noconvert().none(true) = py::none());
    m.def("attention_backward", &backward<T>, py::arg("grad_out").noconvert(),
          py::arg("q").noconvert(), py::arg("k").noconvert(), py::arg("v").noconvert(),
          py::arg("mask").none(true), py::arg("bias").none(true),
          py::arg("alibi_slopes").none(true), py::arg("options"), py::arg("dq").noconvert(),
          py::arg("dk").noconvert(), py::arg("dv").noconvert(),
          py::arg("dscores").noconvert().none(true),
          py::arg("out").noconvert().none(true) = py::none(),
          py::arg("row_max_base2").noconvert().none(true) = py::none(),
          py::arg("row_inv").noconvert().none(true) = py::none());
}

}  // namespace

void register_attention(py::module_& m) {
    // The options of one attention call, bound once and shared by forward and backward.
    py::class_<AttentionOptions>(m, "AttentionOptions",
                                 "scale, causal, bottom_right, window_left, window_right, "
                                 "dropout_p, seed")
        .def(py::init([](double scale, bool causal, bool bottom_right, index_t window_left,
                         index_t window_right, double dropout_p, std::uint64_t seed) {
                 return AttentionOptions{scale,        causal,    bottom_right, window_left,
                                         window_right, dropout_p, seed};
             }),
             py::kw_only(), py::arg("scale") = 1.0, py::arg("causal") = false,
             py::arg("bottom_right") = false, py::arg("window_left") = kUnbounded,
             py::arg("window_right") = kUnbounded, py::arg("dropout_p") = 0.0, py::arg("seed") = 0)
        .def_readwrite("scale", &AttentionOptions::scale)
        .def_readwrite("causal", &AttentionOptions::causal)
        .def_readwrite("bottom_right", &AttentionOptions::bottom_right)
        .def_readwrite("window_left", &AttentionOptions::window_left)
        .def_readwrite("window_right", &AttentionOptions::window_right)
        .def_readwrite("dropout_p", &AttentionOptions::dropout_p)
        .def_readwrite("seed", &AttentionOptions::seed);
    define<float>(m);
    define<double>(m);
    // The tile sizes, so that tests can aim at their boundaries.
    m.attr("attention_blocks") = py::make_tuple(kQueryBlock, kKeyBlock);
}

}  // namespace attnlab::bindings
