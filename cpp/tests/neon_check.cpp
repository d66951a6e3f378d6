// The arm64 kernels against scalar references, with no Python: scripts/run.sh arm64
// cross-compiles this with the whole core (dispatch, threads, drivers and the neon64 table) and
// runs it under qemu-user. The GEMM micro-kernel and the exps are called from the neon64 table
// directly; everything else through the drivers of api.hpp, which dispatch to that table (the
// only one an arm64 build has). Sizes are odd so that SIMD tails and block edges are hit.
// Exit status 0 when every check passes.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "attnlab/api.hpp"
#include "kernel_table.hpp"
#include "layers/optimizer.hpp"

namespace {

using attnlab::index_t;
using Ref = std::vector<double>;

int failures = 0;

template <class T>
const char* dtype_name() {
    return sizeof(T) == 4 ? "float32" : "float64";
}

// |got - want| <= atol + rtol |want| elementwise (NaN and inf must match exactly).
struct Tolerance {
    double atol, rtol;
};

template <class T>
Tolerance tolerance(double float_rtol = 2e-5) {
    if (sizeof(T) == 4) return {float_rtol * 0.1, float_rtol};
    return {1e-12, 1e-10};
}

template <class T>
void check(const std::string& what, const std::vector<T>& got, const Ref& want, Tolerance tol) {
    double worst = 0.0;
    index_t bad = -1;
    if (got.size() != want.size()) {
        std::printf("FAIL %-34s %s: %zu values, expected %zu\n", what.c_str(), dtype_name<T>(),
                    got.size(), want.size());
        ++failures;
        return;
    }
    for (std::size_t i = 0; i < got.size(); ++i) {
        const double g = got[i], w = want[i];
        if (std::isnan(w) || std::isinf(w)) {
            const bool same = std::isnan(w) ? std::isnan(g) : g == w;
            if (!same && bad < 0) bad = static_cast<index_t>(i);
            continue;
        }
        const double diff = std::abs(g - w), bound = tol.atol + tol.rtol * std::abs(w);
        const double excess = diff == 0.0 ? 0.0 : diff / bound;  // bound 0: exact
        if (!(diff <= bound) && bad < 0) bad = static_cast<index_t>(i);
        if (excess > worst) worst = excess;
    }
    if (bad >= 0) {
        std::printf("FAIL %-34s %s: element %lld is %.17g, expected %.17g\n", what.c_str(),
                    dtype_name<T>(), static_cast<long long>(bad), static_cast<double>(got[bad]),
                    want[bad]);
        ++failures;
    } else {
        std::printf("ok   %-34s %s: %zu values, worst error %.2f of tolerance\n", what.c_str(),
                    dtype_name<T>(), got.size(), worst);
    }
}

void expect(bool condition, const std::string& what) {
    if (condition) {
        std::printf("ok   %s\n", what.c_str());
    } else {
        std::printf("FAIL %s\n", what.c_str());
        ++failures;
    }
}

template <class T>
std::vector<T> uniform(std::size_t n, double lo, double hi, std::uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::uniform_real_distribution<double> d(lo, hi);
    std::vector<T> v(n);
    for (auto& x : v) x = static_cast<T>(d(gen));
    return v;
}

template <class T>
Ref widen(const std::vector<T>& v) {
    return Ref(v.begin(), v.end());
}

// The micro-kernel of the table: C = A B, C += A B and C = A B + bias with A plain and
// transposed, B row-major and packed in the kernel's strips.
template <class T>
void check_gemm(const attnlab::KernelTable& table) {
    const index_t m = 13, n = 48, k = 37;  // n a multiple of kPad, m past the 6-row tile
    const auto a = uniform<T>(m * k, -1, 1, 1), b = uniform<T>(k * n, -1, 1, 2);
    const auto c0 = uniform<T>(m * n, -1, 1, 3), bias = uniform<T>(n, -1, 1, 4);
    const auto gemm = table.gemm<T>();
    std::vector<T> strips(k * n);  // (n / strip, k, strip)
    for (index_t p = 0; p < k; ++p)
        for (index_t j = 0; j < n; ++j)
            strips[j / gemm.strip * k * gemm.strip + p * gemm.strip + j % gemm.strip] =
                b[p * n + j];
    for (bool packed : {false, true})
        for (bool transposed : {false, true}) {
            // A's element (r, p) at a[r * lda + p * ldp]: row-major (m, k), or read as (k, m).
            const index_t lda = transposed ? 1 : k, ldp = transposed ? m : 1;
            for (int mode = 0; mode < 3; ++mode) {  // =, +=, = + bias
                const bool accumulate = mode == 1, with_bias = mode == 2;
                std::vector<T> c = c0;
                gemm.run(m, n, k, a.data(), lda, ldp, packed ? strips.data() : b.data(),
                         packed ? gemm.strip : n, packed ? k * gemm.strip : 0, c.data(), n,
                         accumulate, with_bias ? bias.data() : nullptr);
                Ref want(m * n);
                for (index_t r = 0; r < m; ++r)
                    for (index_t j = 0; j < n; ++j) {
                        double s = accumulate  ? double(c0[r * n + j])
                                   : with_bias ? double(bias[j])
                                               : 0.0;
                        for (index_t p = 0; p < k; ++p)
                            s += double(a[r * lda + p * ldp]) * double(b[p * n + j]);
                        want[r * n + j] = s;
                    }
                check(std::string("gemm") + (packed ? " strips" : "") +
                          (transposed ? " A^T" : " A") +
                          (accumulate  ? " +="
                           : with_bias ? " = + bias"
                                       : " ="),
                      c, want, tolerance<T>());
            }
        }
}

template <class T>
void check_exp(const attnlab::KernelTable& table) {
    using attnlab::ExpVariant;
    const index_t n = 1037;
    struct Case {
        const char* name;
        ExpVariant variant;
        double lo, hi;
        bool base2;
    };
    const double top = sizeof(T) == 4 ? 88.0 : 709.0;
    for (const Case& c :
         {Case{"exp general", ExpVariant::general, -top, top, false},
          Case{"exp nonpositive", ExpVariant::nonpositive, -top, 0.0, false},
          Case{"exp2 nonpositive", ExpVariant::base2_nonpositive, -1.4 * top, 0.0, true}}) {
        auto x = uniform<T>(n, c.lo, c.hi, 4);
        // Ends and specials: 0, the underflow range, -inf and NaN.
        x[0] = T(0);
        x[1] = -std::numeric_limits<T>::infinity();
        x[2] = std::numeric_limits<T>::quiet_NaN();
        x[3] = T(-5000);
        std::vector<T> got(n);
        table.exp<T>()(x.data(), n, c.variant, got.data());
        Ref want(n);
        for (index_t i = 0; i < n; ++i)
            want[i] = static_cast<T>(c.base2 ? std::exp2(double(x[i])) : std::exp(double(x[i])));
        // Results below the smallest normal are compared absolutely.
        check(c.name, got, want,
              {double(std::numeric_limits<T>::min()), sizeof(T) == 4 ? 4e-7 : 4e-15});
    }
}

template <class T>
void check_norms() {
    const index_t rows = 7, n = 67;
    const auto x = uniform<T>(rows * n, -3, 5, 5), w = uniform<T>(n, 0.5, 1.5, 6),
               b = uniform<T>(n, -1, 1, 7), g = uniform<T>(rows * n, -1, 1, 8);
    const double eps = 1e-5;
    for (bool centred : {true, false}) {
        Ref y(rows * n), dx(rows * n), dw(n, 0.0), db(n, 0.0);
        for (index_t r = 0; r < rows; ++r) {
            const T* xr = &x[r * n];
            double mean = 0.0, var = 0.0;
            if (centred) {
                for (index_t j = 0; j < n; ++j) mean += xr[j];
                mean /= double(n);
            }
            for (index_t j = 0; j < n; ++j) var += (xr[j] - mean) * (xr[j] - mean);
            const double rstd = 1.0 / std::sqrt(var / double(n) + eps);
            double mean_gw = 0.0, mean_gwh = 0.0;
            for (index_t j = 0; j < n; ++j) {
                const double h = (xr[j] - mean) * rstd, gw = double(g[r * n + j]) * w[j];
                y[r * n + j] = h * w[j] + (centred ? double(b[j]) : 0.0);
                mean_gw += gw / double(n);
                mean_gwh += gw * h / double(n);
                dw[j] += double(g[r * n + j]) * h;
                db[j] += g[r * n + j];
            }
            for (index_t j = 0; j < n; ++j) {
                const double h = (xr[j] - mean) * rstd, gw = double(g[r * n + j]) * w[j];
                dx[r * n + j] = (gw - (centred ? mean_gw : 0.0) - h * mean_gwh) * rstd;
            }
        }
        std::vector<T> got_y(rows * n), got_dx(rows * n), got_dw(n), got_db(n);
        const std::string name = centred ? "layer_norm" : "rms_norm";
        if (centred) {
            attnlab::layer_norm_forward<T>(x.data(), rows, n, w.data(), b.data(), eps,
                                           got_y.data());
            attnlab::layer_norm_backward<T>(g.data(), x.data(), rows, n, w.data(), eps,
                                            got_dx.data(), got_dw.data(), got_db.data());
            check(name + " backward dbias", got_db, db, tolerance<T>());
        } else {
            attnlab::rms_norm_forward<T>(x.data(), rows, n, w.data(), eps, got_y.data());
            attnlab::rms_norm_backward<T>(g.data(), x.data(), rows, n, w.data(), eps, got_dx.data(),
                                          got_dw.data());
        }
        check(name + " forward", got_y, y, tolerance<T>());
        check(name + " backward dx", got_dx, dx, tolerance<T>(1e-4));
        check(name + " backward dweight", got_dw, dw, tolerance<T>());
    }
}

template <class T>
void check_activations() {
    using attnlab::Activation;
    const index_t n = 1031;
    const auto x = uniform<T>(n, -9, 9, 9), g = uniform<T>(n, -1, 1, 10);
    const double k = std::sqrt(2.0 / M_PI), c = 0.044715;
    struct Case {
        const char* name;
        Activation f;
    };
    for (const Case& a :
         {Case{"relu", Activation::relu}, Case{"silu", Activation::silu},
          Case{"gelu", Activation::gelu}, Case{"gelu_tanh", Activation::gelu_tanh}}) {
        Ref y(n), dx(n);
        for (index_t i = 0; i < n; ++i) {
            const double v = x[i];
            double f = 0.0, d = 0.0;
            switch (a.f) {
                case Activation::relu:
                    f = v > 0 ? v : 0.0;
                    d = v > 0 ? 1.0 : 0.0;
                    break;
                case Activation::silu: {
                    const double s = 1.0 / (1.0 + std::exp(-v));
                    f = v * s;
                    d = s * (1.0 + v * (1.0 - s));
                    break;
                }
                case Activation::gelu: {
                    const double cdf = 0.5 * (1.0 + std::erf(v / std::sqrt(2.0)));
                    f = v * cdf;
                    d = cdf + v * std::exp(-0.5 * v * v) / std::sqrt(2.0 * M_PI);
                    break;
                }
                case Activation::gelu_tanh: {
                    const double t = std::tanh(k * (v + c * v * v * v));
                    f = 0.5 * v * (1.0 + t);
                    d = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * k * (1.0 + 3.0 * c * v * v);
                    break;
                }
            }
            y[i] = f;
            dx[i] = g[i] * d;
        }
        std::vector<T> got_y(n), got_dx(n);
        attnlab::activation_forward<T>(a.f, x.data(), n, got_y.data());
        attnlab::activation_backward<T>(a.f, g.data(), x.data(), n, got_dx.data());
        check(std::string(a.name) + " forward", got_y, y, tolerance<T>());
        check(std::string(a.name) + " backward", got_dx, dx, tolerance<T>());
    }
}

template <class T>
void check_softmax() {
    const index_t rows = 5, n = 77;
    const auto x = uniform<T>(rows * n, -20, 20, 11), g = uniform<T>(rows * n, -1, 1, 12);
    for (bool log : {false, true}) {
        Ref y(rows * n), dx(rows * n);
        for (index_t r = 0; r < rows; ++r) {
            double m = -INFINITY, s = 0.0, sum_gy = 0.0, sum_g = 0.0;
            for (index_t j = 0; j < n; ++j) m = std::max(m, double(x[r * n + j]));
            for (index_t j = 0; j < n; ++j) s += std::exp(x[r * n + j] - m);
            for (index_t j = 0; j < n; ++j) {
                const double p = std::exp(x[r * n + j] - m) / s;
                y[r * n + j] = log ? x[r * n + j] - m - std::log(s) : p;
                sum_gy += g[r * n + j] * p;
                sum_g += g[r * n + j];
            }
            for (index_t j = 0; j < n; ++j) {
                const double p = std::exp(x[r * n + j] - m) / s;
                dx[r * n + j] = log ? g[r * n + j] - p * sum_g : p * (g[r * n + j] - sum_gy);
            }
        }
        std::vector<T> got_y(rows * n), got_dx(rows * n);
        attnlab::softmax_forward<T>(x.data(), rows, n, log, got_y.data());
        attnlab::softmax_backward<T>(g.data(), x.data(), rows, n, log, got_dx.data());
        const std::string name = log ? "log_softmax" : "softmax";
        check(name + " forward", got_y, y, tolerance<T>());
        check(name + " backward", got_dx, dx, tolerance<T>());
    }
}

template <class T>
void check_cross_entropy() {
    const index_t rows = 9, n = 35;
    const auto x = uniform<T>(rows * n, -6, 6, 13), row_grad = uniform<T>(rows, 0.1, 1, 14);
    std::vector<std::int64_t> target(rows);
    for (index_t r = 0; r < rows; ++r) target[r] = (r * 7) % n;
    attnlab::CrossEntropyOptions opt;
    target[3] = opt.ignore_index;
    opt.label_smoothing = 0.1;
    Ref loss(rows), dx(rows * n, 0.0);
    for (index_t r = 0; r < rows; ++r) {
        if (target[r] == opt.ignore_index) continue;
        double m = -INFINITY, s = 0.0, mean_nll = 0.0;
        for (index_t j = 0; j < n; ++j) m = std::max(m, double(x[r * n + j]));
        for (index_t j = 0; j < n; ++j) s += std::exp(x[r * n + j] - m);
        const double lse = m + std::log(s), ls = opt.label_smoothing;
        for (index_t j = 0; j < n; ++j) mean_nll += (lse - x[r * n + j]) / double(n);
        loss[r] = (1 - ls) * (lse - x[r * n + target[r]]) + ls * mean_nll;
        for (index_t j = 0; j < n; ++j)
            dx[r * n + j] = row_grad[r] * (std::exp(x[r * n + j] - lse) - ls / double(n) -
                                           (j == target[r] ? 1 - ls : 0.0));
    }
    std::vector<T> got_loss(rows), got_dx(rows * n);
    attnlab::cross_entropy_forward<T>(x.data(), target.data(), rows, n, opt, got_loss.data());
    attnlab::cross_entropy_backward<T>(row_grad.data(), x.data(), target.data(), rows, n, opt,
                                       got_dx.data());
    check("cross_entropy forward", got_loss, loss, tolerance<T>());
    check("cross_entropy backward", got_dx, dx, tolerance<T>());
}

template <class T>
void check_dropout() {
    const index_t n = 100003;
    const double p = 0.3;
    const auto x = uniform<T>(n, 0.5, 2, 15);
    std::vector<T> y(n), halves(n);
    attnlab::dropout_forward<T>(x.data(), n, p, 42, y.data());
    index_t dropped = 0, wrong = 0;
    for (index_t i = 0; i < n; ++i) {
        if (y[i] == T(0)) ++dropped;
        else if (y[i] != static_cast<T>(x[i] * static_cast<T>(1.0 / (1.0 - p)))) ++wrong;
    }
    expect(wrong == 0, std::string("dropout keeps x / (1 - p) exactly, ") + dtype_name<T>());
    const double rate = double(dropped) / double(n);
    expect(std::abs(rate - p) < 0.01, std::string("dropout drops p = 0.3 of 100003 (") +
                                          std::to_string(rate) + "), " + dtype_name<T>());
}

template <class T>
void check_rope() {
    const index_t rows = 11, dim = 22;
    const auto x = uniform<T>(rows * dim, -2, 2, 16);
    std::vector<double> positions = {0, 1, 2, 3, 5, 8, 13};
    attnlab::RopeOptions opt;
    opt.rotary_dim = 18;
    for (bool interleaved : {false, true}) {
        opt.interleaved = interleaved;
        Ref y(rows * dim);
        const index_t half = opt.rotary_dim / 2;
        for (index_t r = 0; r < rows; ++r) {
            const double pos = positions[r % positions.size()];
            for (index_t i = 0; i < dim; ++i) y[r * dim + i] = x[r * dim + i];
            for (index_t k = 0; k < half; ++k) {
                const double angle =
                    pos * std::pow(opt.base, -2.0 * double(k) / double(opt.rotary_dim));
                const index_t i0 = interleaved ? 2 * k : k, i1 = interleaved ? 2 * k + 1 : k + half;
                const double a = x[r * dim + i0], b = x[r * dim + i1];
                y[r * dim + i0] = a * std::cos(angle) - b * std::sin(angle);
                y[r * dim + i1] = b * std::cos(angle) + a * std::sin(angle);
            }
        }
        std::vector<T> got(rows * dim), back(rows * dim);
        attnlab::rope_forward<T>(x.data(), rows, dim, positions.data(), positions.size(), opt,
                                 false, got.data());
        attnlab::rope_forward<T>(got.data(), rows, dim, positions.data(), positions.size(), opt,
                                 true, back.data());
        const std::string name = interleaved ? "rope interleaved" : "rope half-split";
        check(name, got, y, tolerance<T>());
        check(name + " inverse", back, widen(x), tolerance<T>());
    }
}

template <class T>
void check_embedding() {
    const index_t vocab = 10, dim = 19, n = 23, padding = 4;
    const auto w = uniform<T>(vocab * dim, -1, 1, 17), g = uniform<T>(n * dim, -1, 1, 18);
    std::vector<std::int64_t> idx(n);
    for (index_t i = 0; i < n; ++i) idx[i] = (i * 3) % 7;  // repeats; rows 7-9 unused
    Ref y(n * dim), dw(vocab * dim, 0.0);
    for (index_t i = 0; i < n; ++i)
        for (index_t j = 0; j < dim; ++j) {
            y[i * dim + j] = w[idx[i] * dim + j];
            if (idx[i] != padding) dw[idx[i] * dim + j] += g[i * dim + j];
        }
    std::vector<T> got_y(n * dim), got_dw(vocab * dim);
    attnlab::embedding_forward<T>(idx.data(), n, w.data(), dim, got_y.data());
    attnlab::embedding_backward<T>(g.data(), idx.data(), n, vocab, dim, padding, got_dw.data());
    check("embedding forward", got_y, y, {0.0, 0.0});
    check("embedding backward", got_dw, dw, tolerance<T>());
}

template <class T>
void check_linear() {
    const index_t n = 17, in = 29, out = 45;
    const auto x = uniform<T>(n * in, -1, 1, 19), w = uniform<T>(out * in, -1, 1, 20),
               bias = uniform<T>(out, -1, 1, 21), g = uniform<T>(n * out, -1, 1, 22);
    Ref y(n * out), dx(n * in, 0.0), dw(out * in, 0.0), db(out, 0.0);
    for (index_t i = 0; i < n; ++i)
        for (index_t o = 0; o < out; ++o) {
            double s = bias[o];
            for (index_t p = 0; p < in; ++p) {
                s += double(x[i * in + p]) * w[o * in + p];
                dx[i * in + p] += double(g[i * out + o]) * w[o * in + p];
                dw[o * in + p] += double(g[i * out + o]) * x[i * in + p];
            }
            y[i * out + o] = s;
            db[o] += g[i * out + o];
        }
    std::vector<T> got_y(n * out), got_dx(n * in), got_dw(out * in), got_db(out);
    attnlab::linear_forward<T>(x.data(), n, in, w.data(), out, bias.data(), got_y.data());
    attnlab::linear_backward<T>(g.data(), x.data(), w.data(), n, in, out, got_dx.data(),
                                got_dw.data(), got_db.data());
    check("linear forward", got_y, y, tolerance<T>());
    check("linear backward dx", got_dx, dx, tolerance<T>());
    check("linear backward dw", got_dw, dw, tolerance<T>());
    check("linear backward dbias", got_db, db, tolerance<T>());
}

// One AdamW step (amsgrad) and one SGD step (momentum, Nesterov, weight decay) of a parameter of
// two chunks and a tail, against torch.optim's formulas.
template <class T>
void check_optimizers() {
    const index_t n = 16384 + 1000 + 7;
    const auto p0 = uniform<T>(n, -1, 1, 23), g = uniform<T>(n, -1, 1, 24),
               m0 = uniform<T>(n, -1, 1, 25), v0 = uniform<T>(n, 0, 1, 26),
               vmax0 = uniform<T>(n, 0, 1, 27);
    attnlab::layers::AdamOptions adam;
    adam.lr = 1e-2, adam.weight_decay = 0.1;
    adam.decoupled_weight_decay = adam.amsgrad = true;
    const index_t step = 3;
    Ref p(n), m(n), v(n), vmax(n);
    const double step_size = adam.lr / (1 - std::pow(adam.beta1, step)),
                 bias2 = std::sqrt(1 - std::pow(adam.beta2, step));
    for (index_t i = 0; i < n; ++i) {
        m[i] = m0[i] + (1 - adam.beta1) * (g[i] - m0[i]);
        v[i] = adam.beta2 * v0[i] + (1 - adam.beta2) * double(g[i]) * g[i];
        vmax[i] = std::max(double(vmax0[i]), v[i]);
        p[i] = p0[i] * (1 - adam.lr * adam.weight_decay) -
               step_size * m[i] / (std::sqrt(vmax[i]) / bias2 + adam.eps);
    }
    auto got_p = p0, got_m = m0, got_v = v0, got_vmax = vmax0;
    attnlab::layers::adam_step<T>(
        {{got_p.data(), g.data(), got_m.data(), got_v.data(), got_vmax.data(), n, step}}, adam);
    check("adamw step param", got_p, p, tolerance<T>());
    check("adamw step exp_avg", got_m, m, tolerance<T>());
    check("adamw step exp_avg_sq", got_v, v, tolerance<T>());
    check("adamw step max_exp_avg_sq", got_vmax, vmax, tolerance<T>());

    attnlab::layers::SgdOptions sgd;
    sgd.lr = 0.1, sgd.momentum = 0.9, sgd.weight_decay = 0.01, sgd.nesterov = true;
    Ref sp(n), buf(n);
    for (index_t i = 0; i < n; ++i) {
        const double d = g[i] + sgd.weight_decay * p0[i];
        buf[i] = sgd.momentum * m0[i] + d;
        sp[i] = p0[i] - sgd.lr * (d + sgd.momentum * buf[i]);
    }
    auto got_sp = p0, got_buf = m0;
    attnlab::layers::sgd_step<T>({{got_sp.data(), g.data(), got_buf.data(), n, false}}, sgd);
    check("sgd step param", got_sp, sp, tolerance<T>());
    check("sgd step momentum_buffer", got_buf, buf, tolerance<T>());
}

// Softmax attention with grouped-query heads: query head h reads kv head h / (heads / kv_heads).
template <class T>
void check_attention(bool causal) {
    attnlab::AttentionShape s;
    s.batch = 2;
    s.heads = 4;
    s.kv_heads = 2;
    s.lq = 37;
    s.lk = 133;  // past one key block (128)
    s.dim = 19;
    s.dim_v = 21;
    attnlab::AttentionOptions opt;
    opt.scale = 1.0 / std::sqrt(double(s.dim));
    opt.causal = causal;
    opt.bottom_right = true;
    const index_t group = s.heads / s.kv_heads;
    const auto q = uniform<T>(s.batch * s.heads * s.lq * s.dim, -1, 1, 23);
    const auto k = uniform<T>(s.batch * s.kv_heads * s.lk * s.dim, -1, 1, 24);
    const auto v = uniform<T>(s.batch * s.kv_heads * s.lk * s.dim_v, -1, 1, 25);
    const auto go = uniform<T>(s.batch * s.heads * s.lq * s.dim_v, -1, 1, 26);
    Ref out(go.size(), 0.0), dq(q.size(), 0.0), dk(k.size(), 0.0), dv(v.size(), 0.0);
    Ref p(s.lk), dp(s.lk);
    for (index_t b = 0; b < s.batch; ++b)
        for (index_t h = 0; h < s.heads; ++h) {
            const index_t hk = h / group;
            const T* qh = &q[((b * s.heads + h) * s.lq) * s.dim];
            const T* kh = &k[((b * s.kv_heads + hk) * s.lk) * s.dim];
            const T* vh = &v[((b * s.kv_heads + hk) * s.lk) * s.dim_v];
            const T* gh = &go[((b * s.heads + h) * s.lq) * s.dim_v];
            double* oh = &out[((b * s.heads + h) * s.lq) * s.dim_v];
            double* dqh = &dq[((b * s.heads + h) * s.lq) * s.dim];
            double* dkh = &dk[((b * s.kv_heads + hk) * s.lk) * s.dim];
            double* dvh = &dv[((b * s.kv_heads + hk) * s.lk) * s.dim_v];
            for (index_t i = 0; i < s.lq; ++i) {
                // bottom-right alignment: query i sees keys j <= i + lk - lq
                const index_t last = causal ? i + s.lk - s.lq : s.lk - 1;
                double m = -INFINITY, z = 0.0;
                for (index_t j = 0; j < s.lk; ++j) {
                    double dot = 0.0;
                    for (index_t d = 0; d < s.dim; ++d)
                        dot += double(qh[i * s.dim + d]) * kh[j * s.dim + d];
                    p[j] = j <= last ? dot * opt.scale : -INFINITY;
                    m = std::max(m, p[j]);
                }
                for (index_t j = 0; j < s.lk; ++j) z += (p[j] = std::exp(p[j] - m));
                double row = 0.0;  // sum_j p_j dp_j
                for (index_t j = 0; j < s.lk; ++j) {
                    p[j] /= z;
                    dp[j] = 0.0;
                    for (index_t e = 0; e < s.dim_v; ++e) {
                        oh[i * s.dim_v + e] += p[j] * vh[j * s.dim_v + e];
                        dp[j] += double(gh[i * s.dim_v + e]) * vh[j * s.dim_v + e];
                        dvh[j * s.dim_v + e] += p[j] * gh[i * s.dim_v + e];
                    }
                    row += p[j] * dp[j];
                }
                for (index_t j = 0; j < s.lk; ++j) {
                    const double ds = p[j] * (dp[j] - row) * opt.scale;
                    for (index_t d = 0; d < s.dim; ++d) {
                        dqh[i * s.dim + d] += ds * kh[j * s.dim + d];
                        dkh[j * s.dim + d] += ds * qh[i * s.dim + d];
                    }
                }
            }
        }
    attnlab::AttentionInputs<T> in;
    in.q = q.data();
    in.k = k.data();
    in.v = v.data();
    std::vector<T> got_out(out.size()), got_dq(q.size()), got_dk(k.size()), got_dv(v.size());
    attnlab::attention_forward<T>(s, in, opt, got_out.data(), nullptr);
    attnlab::attention_backward<T>(s, in, opt, go.data(), got_dq.data(), got_dk.data(),
                                   got_dv.data(), nullptr);
    const std::string name = causal ? "attention causal" : "attention";
    check(name + " forward", got_out, out, tolerance<T>());
    check(name + " backward dq", got_dq, dq, tolerance<T>(1e-4));
    check(name + " backward dk", got_dk, dk, tolerance<T>(1e-4));
    check(name + " backward dv", got_dv, dv, tolerance<T>());
}

template <class T>
void check_all(const attnlab::KernelTable& table) {
    check_gemm<T>(table);
    check_exp<T>(table);
    check_norms<T>();
    check_activations<T>();
    check_softmax<T>();
    check_cross_entropy<T>();
    check_dropout<T>();
    check_rope<T>();
    check_embedding<T>();
    check_linear<T>();
    check_optimizers<T>();
    check_attention<T>(false);
    check_attention<T>(true);
}

}  // namespace

int main() {
    const attnlab::KernelTable& table = attnlab::kernels_neon64;
    expect(std::string(table.name) == "neon64", "the table is neon64's");
    expect(attnlab::arch::current() == "neon64", "the drivers dispatch to neon64");
    check_all<float>(table);
    check_all<double>(table);
    if (failures) {
        std::printf("%d check(s) failed\n", failures);
        return 1;
    }
    std::printf("all neon64 checks passed\n");
    return 0;
}
