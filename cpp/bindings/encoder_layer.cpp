// encoder_layer_forward / encoder_layer_backward: the shapes of the input, every parameter,
// the masks, the cache and the outputs checked against one another, then the layer with the
// GIL released. Its options are one bound object (EncoderLayerOptions), made once per call; a
// training forward returns what its backward needs as an opaque object (EncoderLayerSaved*)
// that owns workspace memory.
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "layer_args.hpp"
#include "layers/encoder_layer.hpp"
#include "workspace.hpp"

namespace attnlab::bindings {
namespace {

using layers::EncoderLayerOptions;

// The layer's parameters (or their gradients' destinations), as the keyword arguments name
// them; the projections' weights are required where they are parameters.
template <class T>
struct Parameters {
    Optional<T> in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, linear1_weight,
        linear1_bias, linear2_weight, linear2_bias, norm1_weight, norm1_bias, norm2_weight,
        norm2_bias;
};

// The twelve fields of p, each through get(array, its name with the prefix, its shape in a
// layer of shape s).
template <class P, class Fields, class Get>
layers::EncoderLayerParameters<P> each_parameter(Fields& p, const layers::EncoderLayerShape& s,
                                                 const std::string& prefix, Get get) {
    const index_t c = s.d_model, e = c + 2 * s.kv_heads * (c / s.heads), f = s.dim_feedforward;
    auto field = [&](auto& a, const char* name, std::vector<index_t> shape) {
        return get(a, (prefix + name).c_str(), shape);
    };
    layers::EncoderLayerParameters<P> w;
    w.in_proj_weight = field(p.in_proj_weight, "in_proj_weight", {e, c});
    w.in_proj_bias = field(p.in_proj_bias, "in_proj_bias", {e});
    w.out_proj_weight = field(p.out_proj_weight, "out_proj_weight", {c, c});
    w.out_proj_bias = field(p.out_proj_bias, "out_proj_bias", {c});
    w.linear1_weight = field(p.linear1_weight, "linear1_weight", {f, c});
    w.linear1_bias = field(p.linear1_bias, "linear1_bias", {f});
    w.linear2_weight = field(p.linear2_weight, "linear2_weight", {c, f});
    w.linear2_bias = field(p.linear2_bias, "linear2_bias", {c});
    w.norm1_weight = field(p.norm1_weight, "norm1_weight", {c});
    w.norm1_bias = field(p.norm1_bias, "norm1_bias", {c});
    w.norm2_weight = field(p.norm2_weight, "norm2_weight", {c});
    w.norm2_bias = field(p.norm2_bias, "norm2_bias", {c});
    return w;
}

// The layer's sizes and the parameters' data, every shape checked against x's.
template <class T>
std::pair<layers::EncoderLayerShape, layers::EncoderLayerWeights<T>> check_layer(
    const Array<T>& x, const Parameters<T>& p, const EncoderLayerOptions& options, index_t heads,
    index_t kv_heads, index_t past) {
    if (x.ndim() != 3) throw py::value_error("x: expected 3 dimensions (B, L, C)");
    layers::EncoderLayerShape s;
    s.batch = x.shape(0);
    s.length = x.shape(1);
    s.d_model = x.shape(2);
    check_heads(s.d_model, heads, kv_heads);
    s.heads = heads;
    s.kv_heads = kv_heads;
    s.past = past;
    const index_t d = s.d_model / heads;
    if (p.linear1_weight.has_value() != p.linear2_weight.has_value())
        throw py::value_error("linear1_weight, linear2_weight: pass both or neither");
    if (p.linear1_weight && p.linear1_weight->ndim() != 2)
        throw py::value_error("linear1_weight: expected 2 dimensions (F, C)");
    s.dim_feedforward = p.linear1_weight ? p.linear1_weight->shape(0) : 0;
    check_options(options.rotary, options.rope, d, {options.norm1_eps, options.norm2_eps},
                  {options.attention_dropout, options.dropout1, options.dropout, options.dropout2});

    if (!p.in_proj_weight || !p.out_proj_weight)
        throw py::type_error("in_proj_weight, out_proj_weight: required");
    auto w = each_parameter<const T*>(
        p, s, "", [](const Optional<T>& a, const char* name, const std::vector<index_t>& shape) {
            return parameter(a, name, shape);
        });
    return {s, w};
}

// The attention's mask and ALiBi slopes, checked against the layer's sizes.
template <class T>
layers::EncoderLayerAttention<T> check_attention(const layers::EncoderLayerShape& s,
                                                 const std::optional<py::array>& mask,
                                                 const Optional<T>& alibi_slopes) {
    AttentionShape scores;
    scores.batch = s.batch;
    scores.heads = s.heads;
    scores.lq = s.length;
    scores.lk = s.past + s.length;
    return bindings::check_attention<T>(scores, mask, "mask", alibi_slopes);
}

// A training forward's activations for its backward, in one workspace block, with the sizes
// and options of the forward that wrote them.
// Named apart from the decoder's: clang's type_info matches anonymous-namespace types by name, so
// two classes called Saved would be one type to pybind11 ("already registered").
template <class T>
class EncoderSaved {
public:
    EncoderSaved(const layers::EncoderLayerShape& s, const EncoderLayerOptions& options)
        : shape(s), norm_first(options.norm_first), data_(size(s, options.norm_first), false) {
        const index_t n = s.batch * s.length, c = s.d_model;
        Blocks<T> blocks(data_.get());
        at.self_attention =
            blocks.attention(s.batch, s.heads, s.kv_heads, s.length, s.length, c / s.heads);
        at.x1 = blocks.take(n * c);
        at.sum1 = norm_first ? nullptr : blocks.take(n * c);
        at.sum2 = norm_first ? nullptr : blocks.take(n * c);
        at.hidden = blocks.take(n * s.dim_feedforward);
        at.activated = blocks.take(n * s.dim_feedforward);
    }
    layers::EncoderLayerShape shape;
    bool norm_first;
    layers::EncoderLayerSaved<T> at;

private:
    static index_t size(const layers::EncoderLayerShape& s, bool norm_first) {
        const index_t n = s.batch * s.length, c = s.d_model;
        return n * c * (norm_first ? 1 : 3) + 2 * n * s.dim_feedforward +
               Blocks<T>::attention_size(s.batch, s.heads, s.kv_heads, s.length, s.length,
                                         c / s.heads);
    }
    workspace::Buffer<T> data_;
};

// The twelve parameters' arguments of the bound functions, in EncoderLayerParameters' order.
#define ATTNLAB_LAYER_PARAMETERS(T, p)                                                            \
    Optional<T> p##in_proj_weight, Optional<T> p##in_proj_bias, Optional<T> p##out_proj_weight,   \
        Optional<T> p##out_proj_bias, Optional<T> p##linear1_weight, Optional<T> p##linear1_bias, \
        Optional<T> p##linear2_weight, Optional<T> p##linear2_bias, Optional<T> p##norm1_weight,  \
        Optional<T> p##norm1_bias, Optional<T> p##norm2_weight, Optional<T> p##norm2_bias
#define ATTNLAB_LAYER_STRUCT(p)                                                     \
    {                                                                               \
        p##in_proj_weight, p##in_proj_bias, p##out_proj_weight, p##out_proj_bias,   \
            p##linear1_weight, p##linear1_bias, p##linear2_weight, p##linear2_bias, \
            p##norm1_weight, p##norm1_bias, p##norm2_weight, p##norm2_bias          \
    }

template <class T>
py::object forward(const Array<T>& x, ATTNLAB_LAYER_PARAMETERS(T, ),
                   const EncoderLayerOptions& options, index_t heads, index_t kv_heads,
                   const std::optional<py::array>& mask, const Optional<T>& alibi_slopes,
                   const Optional<T>& past_keys, const Optional<T>& past_values, Optional<T> keys,
                   Optional<T> values, Optional<T> weights, Array<T> out, bool training) {
    const Parameters<T> p ATTNLAB_LAYER_STRUCT();
    if (past_keys.has_value() != past_values.has_value())
        throw py::value_error("past_keys, past_values: pass both or neither");
    if (past_keys && past_keys->ndim() != 4)
        throw py::value_error("past_keys: expected 4 dimensions (B, Hkv, P, D)");
    const index_t past = past_keys ? past_keys->shape(2) : 0;
    auto [s, w] = check_layer(x, p, options, heads, kv_heads, past);
    const index_t b = s.batch, l = s.length, c = s.d_model, d = c / heads, lk = past + l;
    if (keys.has_value() != values.has_value())
        throw py::value_error("keys, values: pass both or neither");
    if (past > 0 && !keys)
        throw py::value_error("keys, values: a layer with past keys writes every key");
    if (training && (past_keys || keys))
        throw py::value_error("training: a training forward takes no cache");
    layers::EncoderLayerAttention<T> at = check_attention(s, mask, alibi_slopes);
    at.past_keys = parameter(past_keys, "past_keys", {b, kv_heads, past, d});
    at.past_values = parameter(past_values, "past_values", {b, kv_heads, past, d});
    at.keys = gradient(keys, "keys", {b, kv_heads, lk, d});
    at.values = gradient(values, "values", {b, kv_heads, lk, d});
    at.weights = gradient(weights, "weights", {b, heads, l, lk});
    T* y = output(out, "out", {b, l, c});
    if (y == x.data() && x.size() > 0) throw py::value_error("out: must not be x");
    std::unique_ptr<EncoderSaved<T>> saved =
        training ? std::make_unique<EncoderSaved<T>>(s, options) : nullptr;
    {
        py::gil_scoped_release release;
        layers::encoder_layer_forward<T>(s, w, options, at, x.data(), y,
                                         saved ? &saved->at : nullptr);
    }
    return saved ? py::cast(std::move(saved)) : py::none();
}

template <class T>
void backward(const EncoderSaved<T>& saved, const Array<T>& x, const Array<T>& grad_out,
              ATTNLAB_LAYER_PARAMETERS(T, ), const EncoderLayerOptions& options, index_t heads,
              index_t kv_heads, const std::optional<py::array>& mask,
              const Optional<T>& alibi_slopes, Optional<T> dx, ATTNLAB_LAYER_PARAMETERS(T, d_)) {
    const Parameters<T> p ATTNLAB_LAYER_STRUCT();
    Parameters<T> grads ATTNLAB_LAYER_STRUCT(d_);
    auto [s, w] = check_layer(x, p, options, heads, kv_heads, 0);
    const layers::EncoderLayerShape& f = saved.shape;
    if (s.batch != f.batch || s.length != f.length || s.d_model != f.d_model ||
        s.heads != f.heads || s.kv_heads != f.kv_heads || s.dim_feedforward != f.dim_feedforward ||
        options.norm_first != saved.norm_first)
        throw py::value_error("saved: the activations of another layer's forward");
    expect_shape(grad_out, "grad_out", shape_of(x));
    layers::EncoderLayerAttention<T> at = check_attention(s, mask, alibi_slopes);
    layers::EncoderLayerGrads<T> g;
    g.x = layer_gradient(dx, "dx", shape_of(x), x);
    g.w = each_parameter<T*>(
        grads, s, "d_", [&x](Optional<T>& a, const char* name, const std::vector<index_t>& shape) {
            return layer_gradient(a, name, shape, x);
        });
    py::gil_scoped_release release;
    layers::encoder_layer_backward<T>(s, w, options, at, x.data(), saved.at, grad_out.data(), g);
}

#undef ATTNLAB_LAYER_STRUCT
#undef ATTNLAB_LAYER_PARAMETERS

// The twelve parameters' keyword arguments, named with a prefix ("" or "d_").
#define ATTNLAB_LAYER_ARGS(prefix)                                            \
    optional(prefix "in_proj_weight"), optional(prefix "in_proj_bias"),       \
        optional(prefix "out_proj_weight"), optional(prefix "out_proj_bias"), \
        optional(prefix "linear1_weight"), optional(prefix "linear1_bias"),   \
        optional(prefix "linear2_weight"), optional(prefix "linear2_bias"),   \
        optional(prefix "norm1_weight"), optional(prefix "norm1_bias"),       \
        optional(prefix "norm2_weight"), optional(prefix "norm2_bias")

template <class T>
void define(py::module_& m, const char* saved_name) {
    py::class_<EncoderSaved<T>>(m, saved_name,
                                "A training forward's activations, for its backward.");
    m.def("encoder_layer_forward", &forward<T>, py::arg("x").noconvert(), py::kw_only(),
          ATTNLAB_LAYER_ARGS(""), py::arg("options"), py::arg("heads"), py::arg("kv_heads"),
          py::arg("mask").none(true) = py::none(), optional("alibi_slopes"), optional("past_keys"),
          optional("past_values"), optional("keys"), optional("values"), optional("weights"),
          py::arg("out").noconvert(), py::arg("training") = false,
          "The layer's output into out; with training, returns what its backward needs.");
    m.def("encoder_layer_backward", &backward<T>, py::arg("saved"), py::arg("x").noconvert(),
          py::arg("grad_out").noconvert(), py::kw_only(), ATTNLAB_LAYER_ARGS(""),
          py::arg("options"), py::arg("heads"), py::arg("kv_heads"),
          py::arg("mask").none(true) = py::none(), optional("alibi_slopes"), optional("dx"),
          ATTNLAB_LAYER_ARGS("d_"),
          "The gradients that have a destination (dx, d_<parameter>) of the forward that "
          "returned saved.");
}

#undef ATTNLAB_LAYER_ARGS

}  // namespace

void register_encoder_layer(py::module_& m) {
    py::class_<RopeOptions>(m, "RopeOptions", "Rotary positions: rotary_dim, interleaved, base.")
        .def(py::init<>())
        .def_readwrite("rotary_dim", &RopeOptions::rotary_dim)
        .def_readwrite("interleaved", &RopeOptions::interleaved)
        .def_readwrite("base", &RopeOptions::base);
    py::class_<layers::DropoutOption>(m, "DropoutOption", "A dropout: p (0: none) and seed.")
        .def(py::init<>())
        .def_readwrite("p", &layers::DropoutOption::p)
        .def_readwrite("seed", &layers::DropoutOption::seed);
    py::class_<EncoderLayerOptions>(m, "EncoderLayerOptions",
                                    "The options of one encoder layer's fused forward.")
        .def(py::init<>())
        .def_readwrite("norm_first", &EncoderLayerOptions::norm_first)
        .def_property(
            "activation",
            [](const EncoderLayerOptions& o) { return activation_name(o.activation); },
            [](EncoderLayerOptions& o, const std::string& name) {
                o.activation = activation_named(name);
            })
        .def_readwrite("norm1_eps", &EncoderLayerOptions::norm1_eps)
        .def_readwrite("norm2_eps", &EncoderLayerOptions::norm2_eps)
        .def_readwrite("causal", &EncoderLayerOptions::causal)
        .def_readwrite("rotary", &EncoderLayerOptions::rotary)
        .def_readwrite("rope", &EncoderLayerOptions::rope)
        .def_readwrite("attention_dropout", &EncoderLayerOptions::attention_dropout)
        .def_readwrite("dropout1", &EncoderLayerOptions::dropout1)
        .def_readwrite("dropout", &EncoderLayerOptions::dropout)
        .def_readwrite("dropout2", &EncoderLayerOptions::dropout2);
    define<float>(m, "EncoderLayerSaved32");
    define<double>(m, "EncoderLayerSaved64");
}

}  // namespace attnlab::bindings
