// decoder_layer_forward / decoder_layer_backward: the shapes of the target, the memory, every
// parameter, the masks and the outputs checked against one another, then the layer with the
// GIL released. Its options are one bound object (DecoderLayerOptions); the forward keeps what
// the backward needs in an opaque object (DecoderLayerSaved*, owning workspace memory), which
// a training forward returns.
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "layer_args.hpp"
#include "layers/decoder_layer.hpp"
#include "workspace.hpp"

namespace attnlab::bindings {
namespace {

using layers::DecoderLayerOptions;
using layers::DecoderLayerShape;

// The eighteen parameters, each one macro argument: X(name, rows, columns) with 0 columns for a
// vector; e the packed projections' rows, f the feed-forward's width.
#define ATTNLAB_DECODER_PARAMETERS(X) \
    X(in_proj_weight, e, c)           \
    X(in_proj_bias, e, 0)             \
    X(out_proj_weight, c, c)          \
    X(out_proj_bias, c, 0)            \
    X(cross_in_proj_weight, e, c)     \
    X(cross_in_proj_bias, e, 0)       \
    X(cross_out_proj_weight, c, c)    \
    X(cross_out_proj_bias, c, 0)      \
    X(linear1_weight, f, c)           \
    X(linear1_bias, f, 0)             \
    X(linear2_weight, c, f)           \
    X(linear2_bias, c, 0)             \
    X(norm1_weight, c, 0)             \
    X(norm1_bias, c, 0)               \
    X(norm2_weight, c, 0)             \
    X(norm2_bias, c, 0)               \
    X(norm3_weight, c, 0)             \
    X(norm3_bias, c, 0)

template <class T>
struct Parameters {
#define ATTNLAB_FIELD(name, rows, columns) Optional<T> name;
    ATTNLAB_DECODER_PARAMETERS(ATTNLAB_FIELD)
#undef ATTNLAB_FIELD
};

// Every field of p through get(array, its name with the prefix, its shape in a layer of s).
template <class P, class Fields, class Get>
layers::DecoderLayerParameters<P> each_parameter(Fields& p, const DecoderLayerShape& s,
                                                 const std::string& prefix, Get get) {
    const index_t c = s.d_model, e = c + 2 * s.kv_heads * (c / s.heads), f = s.dim_feedforward;
    auto shape = [](index_t rows, index_t columns) {
        return columns ? std::vector<index_t>{rows, columns} : std::vector<index_t>{rows};
    };
    layers::DecoderLayerParameters<P> w;
#define ATTNLAB_GET(name, rows, columns) \
    w.name = get(p.name, (prefix + #name).c_str(), shape(rows, columns));
    ATTNLAB_DECODER_PARAMETERS(ATTNLAB_GET)
#undef ATTNLAB_GET
    return w;
}

// The layer's sizes and the parameters' data, every shape checked against x's and memory's.
template <class T>
std::pair<DecoderLayerShape, layers::DecoderLayerWeights<T>> check_layer(
    const Array<T>& x, const Array<T>& memory, const Parameters<T>& p,
    const DecoderLayerOptions& options, index_t heads, index_t kv_heads) {
    if (x.ndim() != 3) throw py::value_error("x: expected 3 dimensions (B, L, C)");
    if (memory.ndim() != 3 || memory.shape(0) != x.shape(0) || memory.shape(2) != x.shape(2))
        throw py::value_error("memory: expected shape (B, S, C) = (" + std::to_string(x.shape(0)) +
                              ", S, " + std::to_string(x.shape(2)) + "), got " + shape_str(memory));
    DecoderLayerShape s;
    s.batch = x.shape(0);
    s.length = x.shape(1);
    s.memory_length = memory.shape(1);
    s.d_model = x.shape(2);
    check_heads(s.d_model, heads, kv_heads);
    s.heads = heads;
    s.kv_heads = kv_heads;
    if (!p.in_proj_weight || !p.out_proj_weight || !p.cross_in_proj_weight ||
        !p.cross_out_proj_weight || !p.linear1_weight || !p.linear2_weight)
        throw py::type_error(
            "in_proj_weight, out_proj_weight, cross_in_proj_weight, cross_out_proj_weight, "
            "linear1_weight, linear2_weight: required");
    if (p.linear1_weight->ndim() != 2)
        throw py::value_error("linear1_weight: expected 2 dimensions (F, C)");
    s.dim_feedforward = p.linear1_weight->shape(0);
    check_options(options.rotary, options.rope, s.d_model / heads,
                  {options.norm1_eps, options.norm2_eps, options.norm3_eps},
                  {options.attention_dropout, options.cross_attention_dropout, options.dropout1,
                   options.dropout2, options.dropout, options.dropout3});
    auto w = each_parameter<const T*>(
        p, s, "", [](const Optional<T>& a, const char* name, const std::vector<index_t>& shape) {
            return parameter(a, name, shape);
        });
    return {s, w};
}

// The self-attention's (mask, ALiBi slopes) and the cross attention's (memory_mask) operands.
template <class T>
std::pair<layers::EncoderLayerAttention<T>, layers::EncoderLayerAttention<T>> check_attentions(
    const DecoderLayerShape& s, const std::optional<py::array>& mask,
    const std::optional<py::array>& memory_mask, const Optional<T>& alibi_slopes) {
    AttentionShape scores;
    scores.batch = s.batch;
    scores.heads = s.heads;
    scores.lq = scores.lk = s.length;
    auto self = check_attention<T>(scores, mask, "mask", alibi_slopes);
    scores.lk = s.memory_length;
    return {self, check_attention<T>(scores, memory_mask, "memory_mask", std::nullopt)};
}

// The forward's activations for its backward, in one workspace block, with the sizes and
// options of the forward that wrote them.
// Named apart from the encoder's: clang's type_info matches anonymous-namespace types by name, so
// two classes called Saved would be one type to pybind11 ("already registered").
template <class T>
class DecoderSaved {
public:
    DecoderSaved(const DecoderLayerShape& s, const DecoderLayerOptions& options)
        : shape(s), norm_first(options.norm_first), data_(size(s, options.norm_first), false) {
        const index_t n = s.batch * s.length, c = s.d_model, d = c / s.heads;
        Blocks<T> blocks(data_.get());
        at.self_attention = blocks.attention(s.batch, s.heads, s.kv_heads, s.length, s.length, d);
        at.cross_attention =
            blocks.attention(s.batch, s.heads, s.kv_heads, s.length, s.memory_length, d);
        at.x1 = blocks.take(n * c);
        at.x2 = blocks.take(n * c);
        at.sum1 = norm_first ? nullptr : blocks.take(n * c);
        at.sum2 = norm_first ? nullptr : blocks.take(n * c);
        at.sum3 = norm_first ? nullptr : blocks.take(n * c);
        at.hidden = blocks.take(n * s.dim_feedforward);
        at.activated = blocks.take(n * s.dim_feedforward);
    }
    DecoderLayerShape shape;
    bool norm_first;
    layers::DecoderLayerSaved<T> at;

private:
    static index_t size(const DecoderLayerShape& s, bool norm_first) {
        const index_t n = s.batch * s.length, c = s.d_model, d = c / s.heads;
        return n * c * (norm_first ? 2 : 5) + 2 * n * s.dim_feedforward +
               Blocks<T>::attention_size(s.batch, s.heads, s.kv_heads, s.length, s.length, d) +
               Blocks<T>::attention_size(s.batch, s.heads, s.kv_heads, s.length, s.memory_length,
                                         d);
    }
    workspace::Buffer<T> data_;
};

// The parameters' arguments of the bound functions, named with a prefix (nothing or d_).
#define ATTNLAB_ARGUMENT(name, rows, columns) , Optional<T> name
#define ATTNLAB_GRAD_ARGUMENT(name, rows, columns) , Optional<T> d_##name
#define ATTNLAB_STRUCT_FIELD(name, rows, columns) name,
#define ATTNLAB_GRAD_STRUCT_FIELD(name, rows, columns) d_##name,

template <class T>
py::object forward(const Array<T>& x,
                   const Array<T>& memory ATTNLAB_DECODER_PARAMETERS(ATTNLAB_ARGUMENT),
                   const DecoderLayerOptions& options, index_t heads, index_t kv_heads,
                   const std::optional<py::array>& mask,
                   const std::optional<py::array>& memory_mask, const Optional<T>& alibi_slopes,
                   Optional<T> weights, Optional<T> cross_weights, Array<T> out, bool training) {
    const Parameters<T> p{ATTNLAB_DECODER_PARAMETERS(ATTNLAB_STRUCT_FIELD)};
    auto [s, w] = check_layer(x, memory, p, options, heads, kv_heads);
    auto [self, cross] = check_attentions(s, mask, memory_mask, alibi_slopes);
    const index_t b = s.batch, l = s.length, c = s.d_model;
    self.weights = gradient(weights, "weights", {b, heads, l, l});
    cross.weights = gradient(cross_weights, "cross_weights", {b, heads, l, s.memory_length});
    T* y = output(out, "out", {b, l, c});
    if ((y == x.data() && x.size() > 0) || (y == memory.data() && memory.size() > 0))
        throw py::value_error("out: must be neither x nor memory");
    auto saved = std::make_unique<DecoderSaved<T>>(s, options);
    {
        py::gil_scoped_release release;
        layers::decoder_layer_forward<T>(s, w, options, self, cross, x.data(), memory.data(), y,
                                         saved->at);
    }
    return training ? py::cast(std::move(saved)) : py::none();
}

template <class T>
void backward(const DecoderSaved<T>& saved, const Array<T>& x, const Array<T>& memory,
              const Array<T>& grad_out ATTNLAB_DECODER_PARAMETERS(ATTNLAB_ARGUMENT),
              const DecoderLayerOptions& options, index_t heads, index_t kv_heads,
              const std::optional<py::array>& mask, const std::optional<py::array>& memory_mask,
              const Optional<T>& alibi_slopes, Optional<T> dx,
              Optional<T> dmemory ATTNLAB_DECODER_PARAMETERS(ATTNLAB_GRAD_ARGUMENT)) {
    const Parameters<T> p{ATTNLAB_DECODER_PARAMETERS(ATTNLAB_STRUCT_FIELD)};
    Parameters<T> grads{ATTNLAB_DECODER_PARAMETERS(ATTNLAB_GRAD_STRUCT_FIELD)};
    auto [s, w] = check_layer(x, memory, p, options, heads, kv_heads);
    const DecoderLayerShape& f = saved.shape;
    if (s.batch != f.batch || s.length != f.length || s.memory_length != f.memory_length ||
        s.d_model != f.d_model || s.heads != f.heads || s.kv_heads != f.kv_heads ||
        s.dim_feedforward != f.dim_feedforward || options.norm_first != saved.norm_first)
        throw py::value_error("saved: the activations of another layer's forward");
    expect_shape(grad_out, "grad_out", shape_of(x));
    auto [self, cross] = check_attentions(s, mask, memory_mask, alibi_slopes);
    layers::DecoderLayerGrads<T> g;
    g.x = layer_gradient(dx, "dx", shape_of(x), x);
    g.memory = layer_gradient(dmemory, "dmemory", shape_of(memory), x);
    g.w = each_parameter<T*>(
        grads, s, "d_", [&x](Optional<T>& a, const char* name, const std::vector<index_t>& shape) {
            return layer_gradient(a, name, shape, x);
        });
    py::gil_scoped_release release;
    layers::decoder_layer_backward<T>(s, w, options, self, cross, x.data(), memory.data(), saved.at,
                                      grad_out.data(), g);
}

#undef ATTNLAB_GRAD_STRUCT_FIELD
#undef ATTNLAB_STRUCT_FIELD
#undef ATTNLAB_GRAD_ARGUMENT
#undef ATTNLAB_ARGUMENT

template <class T>
void define(py::module_& m, const char* saved_name) {
#define ATTNLAB_KEYWORD(name, rows, columns) , optional(#name)
#define ATTNLAB_GRAD_KEYWORD(name, rows, columns) , optional("d_" #name)
    py::class_<DecoderSaved<T>>(m, saved_name,
                                "A decoder layer forward's activations, for its backward.");
    m.def("decoder_layer_forward", &forward<T>, py::arg("x").noconvert(),
          py::arg("memory").noconvert(), py::kw_only() ATTNLAB_DECODER_PARAMETERS(ATTNLAB_KEYWORD),
          py::arg("options"), py::arg("heads"), py::arg("kv_heads"),
          py::arg("mask").none(true) = py::none(), py::arg("memory_mask").none(true) = py::none(),
          optional("alibi_slopes"), optional("weights"), optional("cross_weights"),
          py::arg("out").noconvert(), py::arg("training") = false,
          "The layer's output into out; with training, returns what its backward needs.");
    m.def("decoder_layer_backward", &backward<T>, py::arg("saved"), py::arg("x").noconvert(),
          py::arg("memory").noconvert(), py::arg("grad_out").noconvert(),
          py::kw_only() ATTNLAB_DECODER_PARAMETERS(ATTNLAB_KEYWORD), py::arg("options"),
          py::arg("heads"), py::arg("kv_heads"), py::arg("mask").none(true) = py::none(),
          py::arg("memory_mask").none(true) = py::none(), optional("alibi_slopes"), optional("dx"),
          optional("dmemory") ATTNLAB_DECODER_PARAMETERS(ATTNLAB_GRAD_KEYWORD),
          "The gradients that have a destination (dx, dmemory, d_<parameter>) of the forward "
          "that returned saved.");
#undef ATTNLAB_GRAD_KEYWORD
#undef ATTNLAB_KEYWORD
}

#undef ATTNLAB_DECODER_PARAMETERS

}  // namespace

void register_decoder_layer(py::module_& m) {
    py::class_<DecoderLayerOptions>(m, "DecoderLayerOptions",
                                    "The options of one decoder layer's fused forward.")
        .def(py::init<>())
        .def_readwrite("norm_first", &DecoderLayerOptions::norm_first)
        .def_property(
            "activation",
            [](const DecoderLayerOptions& o) { return activation_name(o.activation); },
            [](DecoderLayerOptions& o, const std::string& name) {
                o.activation = activation_named(name);
            })
        .def_readwrite("norm1_eps", &DecoderLayerOptions::norm1_eps)
        .def_readwrite("norm2_eps", &DecoderLayerOptions::norm2_eps)
        .def_readwrite("norm3_eps", &DecoderLayerOptions::norm3_eps)
        .def_readwrite("causal", &DecoderLayerOptions::causal)
        .def_readwrite("memory_causal", &DecoderLayerOptions::memory_causal)
        .def_readwrite("rotary", &DecoderLayerOptions::rotary)
        .def_readwrite("cross_kv_apart", &DecoderLayerOptions::cross_kv_apart)
        .def_readwrite("rope", &DecoderLayerOptions::rope)
        .def_readwrite("attention_dropout", &DecoderLayerOptions::attention_dropout)
        .def_readwrite("cross_attention_dropout", &DecoderLayerOptions::cross_attention_dropout)
        .def_readwrite("dropout1", &DecoderLayerOptions::dropout1)
        .def_readwrite("dropout2", &DecoderLayerOptions::dropout2)
        .def_readwrite("dropout", &DecoderLayerOptions::dropout)
        .def_readwrite("dropout3", &DecoderLayerOptions::dropout3);
    define<float>(m, "DecoderLayerSaved32");
    define<double>(m, "DecoderLayerSaved64");
}

}  // namespace attnlab::bindings
