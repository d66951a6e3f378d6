// Entry points of the attnlab core: raw pointers, sizes and option structs, no SIMD types.
// Everything here is implemented at baseline flags and dispatches to the best kernel arch.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace attnlab {

using index_t = std::int64_t;
constexpr index_t kUnbounded = std::numeric_limits<index_t>::max();

// q is (batch, heads, lq, dim), k is (batch, kv_heads, lk, dim), v is (batch, kv_heads, lk, dim_v),
// all C-contiguous; heads is a multiple of kv_heads (grouped-query attention).
struct AttentionShape {
    index_t batch = 0, heads = 0, kv_heads = 0, lq = 0, lk = 0, dim = 0, dim_v = 0;
};

// An operand broadcast over (batch, heads, lq, lk): element strides of the first three axes
// (0 = broadcast); the last axis is contiguous. data == nullptr means absent.
template <class T>
struct Broadcast4 {
    const T* data = nullptr;
    index_t stride_b = 0, stride_h = 0, stride_q = 0;
};

struct AttentionOptions {
    double scale = 1.0;
    bool causal = false;
    bool bottom_right = false;  // align query i with key i + lk - lq (causal and window)
    index_t window_left = kUnbounded;
    index_t window_right = kUnbounded;
    double dropout_p = 0.0;
    std::uint64_t seed = 0;
};

template <class T>
struct AttentionInputs {
    const T* q = nullptr;
    const T* k = nullptr;
    const T* v = nullptr;
    Broadcast4<std::uint8_t> mask;  // nonzero = may attend
    Broadcast4<T> bias;             // added to the scaled scores
    // ALiBi generated in the tile loop: -alibi_slopes[h] * |j - a_i| is added to the scores,
    // a_i being query i's aligned position; (heads) or null. Spares an lq x lk bias read.
    const T* alibi_slopes = nullptr;
};

// The softmax statistics of a forward, (batch, heads, lq) each, in the base-2 units the kernels
// work in (a score s counts as s log2 e): the weights of row i are
// 2^(s log2 e - row_max_base2[i]) * row_inv[i]; row_max_base2 = -inf and row_inv = 0 for a row
// that sees no key. row_max_base2 is the shift the forward used: the row's largest base-2
// score, or up to 8 below it (the forward raises its shift only past that slack).
template <class T>
struct SoftmaxStats {
    T* row_max_base2 = nullptr;
    T* row_inv = nullptr;
};

// out is (batch, heads, lq, dim_v); weights, when not null, receives the normalized
// pre-dropout attention weights (batch, heads, lq, lk); stats, when its arrays are not null,
// receives what the backward needs besides out.
template <class T>
void attention_forward(const AttentionShape& shape, const AttentionInputs<T>& in,
                       const AttentionOptions& opt, T* out, T* weights, SoftmaxStats<T> stats = {});

// Gradients of the forward above with respect to q, k, v; dscores, when not null, receives the
// gradient with respect to the (biased, scaled) scores, (batch, heads, lq, lk) = dbias unreduced.
// saved_out and saved_stats are the forward's results with the same inputs, or null: then the
// backward runs the forward again to get them.
template <class T>
void attention_backward(const AttentionShape& shape, const AttentionInputs<T>& in,
                        const AttentionOptions& opt, const T* grad_out, T* dq, T* dk, T* dv,
                        T* dscores, const T* saved_out = nullptr,
                        SoftmaxStats<const T> saved_stats = {});

// Transformer building blocks. Arrays are C-contiguous; a row is the last axis, n wide.

// layer_norm: y = (x - mean) / sqrt(var + eps) * weight + bias over each row of x (rows, n);
// rms_norm: y = x / sqrt(mean(x^2) + eps) * weight. weight and bias (n) may be null (1 and 0).
template <class T>
void layer_norm_forward(const T* x, index_t rows, index_t n, const T* weight, const T* bias,
                        double eps, T* y);
template <class T>
void rms_norm_forward(const T* x, index_t rows, index_t n, const T* weight, double eps, T* y);
// dx (rows, n), and dweight, dbias (n) unless null.
template <class T>
void layer_norm_backward(const T* grad_out, const T* x, index_t rows, index_t n, const T* weight,
                         double eps, T* dx, T* dweight, T* dbias);
template <class T>
void rms_norm_backward(const T* grad_out, const T* x, index_t rows, index_t n, const T* weight,
                       double eps, T* dx, T* dweight);

enum class Activation { relu, silu, gelu, gelu_tanh };

// y = f(x) over n elements; the backward gives dx = grad_out * f'(x).
template <class T>
void activation_forward(Activation f, const T* x, index_t n, T* y);
template <class T>
void activation_backward(Activation f, const T* grad_out, const T* x, index_t n, T* dx);

// softmax (log = false) or log_softmax of each row of x (rows, n); the backward recomputes it.
template <class T>
void softmax_forward(const T* x, index_t rows, index_t n, bool log, T* y);
template <class T>
void softmax_backward(const T* grad_out, const T* x, index_t rows, index_t n, bool log, T* dx);

struct CrossEntropyOptions {
    index_t ignore_index = -100;
    double label_smoothing = 0.0;
};

// Per-row loss of logits (rows, classes) against target (rows), each in [0, classes) or
// ignore_index; the backward takes the gradient of each row's loss (the reduction's weights).
template <class T>
void cross_entropy_forward(const T* logits, const std::int64_t* target, index_t rows,
                           index_t classes, const CrossEntropyOptions& opt, T* loss);
template <class T>
void cross_entropy_backward(const T* row_grad, const T* logits, const std::int64_t* target,
                            index_t rows, index_t classes, const CrossEntropyOptions& opt,
                            T* dlogits);

// y = x * keep / (1 - p) over n elements, keep drawn from (seed, flat index), element i at
// flat index first + i (first >= 0, first + n <= 2^63 - 1); the backward is the same call on
// the gradient.
template <class T>
void dropout_forward(const T* x, index_t n, double p, std::uint64_t seed, T* y, index_t first = 0);

// out (n, dim) = weight (vocab, dim) rows at indices (n), each in [0, vocab). The backward sums
// grad_out rows into dweight (vocab, dim) per index, in position order; row padding_idx (if in
// range) gets zero.
template <class T>
void embedding_forward(const std::int64_t* indices, index_t n, const T* weight, index_t dim,
                       T* out);
template <class T>
void embedding_backward(const T* grad_out, const std::int64_t* indices, index_t n, index_t vocab,
                        index_t dim, index_t padding_idx, T* dweight);

struct RopeOptions {
    index_t rotary_dim = 0;    // even, <= dim: the leading rotary_dim of each row rotate
    bool interleaved = false;  // pairs (2k, 2k + 1) instead of (k, k + rotary_dim / 2)
    double base = 10000.0;
};

// Rotary position embedding of x (rows, dim); row r is at positions[r % num_positions].
// inverse = true rotates back, which is the backward.
template <class T>
void rope_forward(const T* x, index_t rows, index_t dim, const double* positions,
                  index_t num_positions, const RopeOptions& opt, bool inverse, T* y);

// y (n, out) = x (n, in) w^T + bias, w (out, in) as in PyTorch; bias may be null. C-contiguous.
template <class T>
void linear_forward(const T* x, index_t n, index_t in, const T* w, index_t out, const T* bias,
                    T* y);

// Gradients of linear_forward: dx (n, in), dw (out, in) and dbias (out), each unless null.
template <class T>
void linear_backward(const T* grad_out, const T* x, const T* w, index_t n, index_t in, index_t out,
                     T* dx, T* dw, T* dbias);

// A batch of matrices: element (b, r, c) at data[b * stride_batch + r * stride_row +
// c * stride_col], strides in elements, of any sign (0 = broadcast; a transpose swaps them).
template <class T>
struct Strided3 {
    const T* data = nullptr;
    index_t stride_batch = 0, stride_row = 0, stride_col = 0;
};

// c (batch, m, n), C-contiguous: c[b] = a[b] (m, k) @ b[b] (k, n) for b < batch; zeros when
// k = 0. c must not overlap a or b.
template <class T>
void matmul(index_t batch, index_t m, index_t n, index_t k, Strided3<T> a, Strided3<T> b, T* c);

// The vectorized exps: the softmax's exp(x); exp(x) for x <= 0 or NaN (GELU's); 2^x for x <= 0
// or NaN (the attention softmax's, on base-2 scores).
enum class ExpVariant { general, nonpositive, base2_nonpositive };

// out[i] = exp(x[i]) (or 2^x[i]) for i < n by the variant's kernel (exposed for their tests).
template <class T>
void vector_exp(const T* x, index_t n, ExpVariant variant, T* out);

namespace arch {
// Measured float32 FMA throughput of `threads` threads on the current arch, in GFLOP/s.
double peak_gflops(int threads);
std::vector<std::string> available();  // usable on this CPU, best first, baseline last
std::string current();                 // the arch kernels run on now
void force(const std::string& name);   // "" restores automatic choice
}  // namespace arch

void set_num_threads(int n);
int get_num_threads();

}  // namespace attnlab
