// encoder_layer_forward: the shapes of the input, every parameter, the masks, the cache and the
// outputs checked against one another, then the layer with the GIL released; and its options
// as one bound object (EncoderLayerOptions), made once per layer.
#include <cmath>
#include <optional>
#include <string>

#include "checks.hpp"
#include "layers/encoder_layer.hpp"

namespace attnlab::bindings {
namespace {

using layers::EncoderLayerOptions;

template <class T>
using Optional = std::optional<Array<T>>;

// A parameter's data after checking its shape; null for None.
template <class T>
const T* parameter(const Optional<T>& a, const char* name, const std::vector<index_t>& shape) {
    if (!a) return nullptr;
    expect_shape(*a, name, shape);
    return a->data();
}

template <class T>
void forward(const Array<T>& x, const Array<T>& in_proj_weight, const Optional<T>& in_proj_bias,
             const Array<T>& out_proj_weight, const Optional<T>& out_proj_bias,
             const Optional<T>& linear1_weight, const Optional<T>& linear1_bias,
             const Optional<T>& linear2_weight, const Optional<T>& linear2_bias,
             const Optional<T>& norm1_weight, const Optional<T>& norm1_bias,
             const Optional<T>& norm2_weight, const Optional<T>& norm2_bias,
             const EncoderLayerOptions& options, index_t heads, index_t kv_heads,
             const std::optional<py::array>& mask, const Optional<T>& alibi_slopes,
             const Optional<T>& past_keys, const Optional<T>& past_values, Optional<T> keys,
             Optional<T> values, Optional<T> weights, Array<T> out) {
    if (x.ndim() != 3) throw py::value_error("x: expected 3 dimensions (B, L, C)");
    layers::EncoderLayerShape s;
    s.batch = x.shape(0);
    s.length = x.shape(1);
    s.d_model = x.shape(2);
    if (heads < 1 || s.d_model % heads != 0)
        throw py::value_error("heads: " + std::to_string(heads) + " must be >= 1 and divide " +
                              "d_model " + std::to_string(s.d_model));
    if (kv_heads < 1 || heads % kv_heads != 0)
        throw py::value_error("kv_heads: " + std::to_string(kv_heads) +
                              " must be >= 1 and divide heads " + std::to_string(heads));
    s.heads = heads;
    s.kv_heads = kv_heads;
    const index_t c = s.d_model, d = c / heads, e = c + 2 * kv_heads * d;
    if (linear1_weight.has_value() != linear2_weight.has_value())
        throw py::value_error("linear1_weight, linear2_weight: pass both or neither");
    if (linear1_weight && linear1_weight->ndim() != 2)
        throw py::value_error("linear1_weight: expected 2 dimensions (F, C)");
    s.dim_feedforward = linear1_weight ? linear1_weight->shape(0) : 0;
    const index_t f = s.dim_feedforward;
    if (past_keys.has_value() != past_values.has_value())
        throw py::value_error("past_keys, past_values: pass both or neither");
    if (past_keys && past_keys->ndim() != 4)
        throw py::value_error("past_keys: expected 4 dimensions (B, Hkv, P, D)");
    s.past = past_keys ? past_keys->shape(2) : 0;
    const index_t b = s.batch, l = s.length, lk = s.past + l;
    if (s.past > 0 && !keys)
        throw py::value_error("keys, values: a layer with past keys writes every key");
    if (keys.has_value() != values.has_value())
        throw py::value_error("keys, values: pass both or neither");
    if (options.rotary && (options.rope.rotary_dim % 2 != 0 || options.rope.rotary_dim > d ||
                           options.rope.rotary_dim < 0 || !(options.rope.base > 0)))
        throw py::value_error("options.rope: rotary_dim must be even and <= the heads' dim " +
                              std::to_string(d) + ", base > 0");
    for (double eps : {options.norm1_eps, options.norm2_eps})
        if (!std::isfinite(eps)) throw py::value_error("options: norm eps must be finite");

    layers::EncoderLayerWeights<T> w;
    w.in_proj_weight = parameter<T>(in_proj_weight, "in_proj_weight", {e, c});
    w.in_proj_bias = parameter(in_proj_bias, "in_proj_bias", {e});
    w.out_proj_weight = parameter<T>(out_proj_weight, "out_proj_weight", {c, c});
    w.out_proj_bias = parameter(out_proj_bias, "out_proj_bias", {c});
    w.linear1_weight = parameter(linear1_weight, "linear1_weight", {f, c});
    w.linear1_bias = parameter(linear1_bias, "linear1_bias", {f});
    w.linear2_weight = parameter(linear2_weight, "linear2_weight", {c, f});
    w.linear2_bias = parameter(linear2_bias, "linear2_bias", {c});
    w.norm1_weight = parameter(norm1_weight, "norm1_weight", {c});
    w.norm1_bias = parameter(norm1_bias, "norm1_bias", {c});
    w.norm2_weight = parameter(norm2_weight, "norm2_weight", {c});
    w.norm2_bias = parameter(norm2_bias, "norm2_bias", {c});

    layers::EncoderLayerAttention<T> at;
    AttentionShape scores;  // the attention's sizes, for the mask's broadcast
    scores.batch = b;
    scores.heads = heads;
    scores.lq = l;
    scores.lk = lk;
    if (mask) {
        if (!py::isinstance<py::array_t<bool>>(*mask))
            throw py::type_error("mask: expected a bool array");
        at.mask = broadcast4<std::uint8_t>(*mask, "mask", scores);
    }
    at.alibi_slopes = parameter(alibi_slopes, "alibi_slopes", {heads});
    at.past_keys = parameter(past_keys, "past_keys", {b, kv_heads, s.past, d});
    at.past_values = parameter(past_values, "past_values", {b, kv_heads, s.past, d});
    at.keys = keys ? output(*keys, "keys", {b, kv_heads, lk, d}) : nullptr;
    at.values = values ? output(*values, "values", {b, kv_heads, lk, d}) : nullptr;
    at.weights = weights ? output(*weights, "weights", {b, heads, l, lk}) : nullptr;
    T* y = output(out, "out", {b, l, c});
    if (y == x.data() && x.size() > 0) throw py::value_error("out: must not be x");
    py::gil_scoped_release release;
    layers::encoder_layer_forward<T>(s, w, options, at, x.data(), y);
}

template <class T>
void define(py::module_& m) {
    const auto optional = [](const char* name) {
        return py::arg(name).noconvert().none(true) = py::none();
    };
    m.def("encoder_layer_forward", &forward<T>, py::arg("x").noconvert(), py::kw_only(),
          py::arg("in_proj_weight").noconvert(), optional("in_proj_bias"),
          py::arg("out_proj_weight").noconvert(), optional("out_proj_bias"),
          optional("linear1_weight"), optional("linear1_bias"), optional("linear2_weight"),
          optional("linear2_bias"), optional("norm1_weight"), optional("norm1_bias"),
          optional("norm2_weight"), optional("norm2_bias"), py::arg("options"),
          py::arg("heads"), py::arg("kv_heads"), py::arg("mask").none(true) = py::none(),
          optional("alibi_slopes"), optional("past_keys"), optional("past_values"),
          optional("keys"), optional("values"), optional("weights"),
          py::arg("out").noconvert());
}

}  // namespace

void register_encoder_layer(py::module_& m) {
    py::class_<RopeOptions>(m, "RopeOptions", "Rotary positions: rotary_dim, interleaved, base.")
        .def(py::init<>())
        .def_readwrite("rotary_dim", &RopeOptions::rotary_dim)
        .def_readwrite("interleaved", &RopeOptions::interleaved)
        .def_readwrite("base", &RopeOptions::base);
    py::class_<EncoderLayerOptions>(m, "EncoderLayerOptions",
                                    "The options of one encoder layer's fused forward.")
        .def(py::init<>())
        .def_readwrite("norm_first", &EncoderLayerOptions::norm_first)
        .def_property(
            "activation",
            [](const EncoderLayerOptions& o) {
                return o.activation == Activation::relu   ? "relu"
                       : o.activation == Activation::gelu ? "gelu"
                                                          : "gelu_tanh";
            },
            [](EncoderLayerOptions& o, const std::string& name) {
                o.activation = named_choice<Activation>(name, "activation",
                                                        {{"relu", Activation::relu},
                                                         {"gelu", Activation::gelu},
                                                         {"gelu_tanh", Activation::gelu_tanh}});
            })
        .def_readwrite("norm1_eps", &EncoderLayerOptions::norm1_eps)
        .def_readwrite("norm2_eps", &EncoderLayerOptions::norm2_eps)
        .def_readwrite("causal", &EncoderLayerOptions::causal)
        .def_readwrite("rotary", &EncoderLayerOptions::rotary)
        .def_readwrite("rope", &EncoderLayerOptions::rope);
    define<float>(m);
    define<double>(m);
}

}  // namespace attnlab::bindings
