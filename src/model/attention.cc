#include "model/attention.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <limits>

#include "model/threads.h"

namespace braintune::model {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

class SliceWiseAttentionFunction : public torch::autograd::Function<SliceWiseAttentionFunction> {
 public:
  // q, k, v [N, T, d] contiguous -> out [N, T, d]; saves q / sqrt(d), k, v, out and each
  // row's log-sum-exp [N, T]. Scaling q (not the T x T scores) saves a pass over every slice.
  static Tensor forward(AutogradContext* ctx, const Tensor& q, const Tensor& k, const Tensor& v) {
    const int64_t n = q.size(0), t = q.size(1);
    const Tensor qs = q * (1.0 / std::sqrt(static_cast<double>(q.size(2))));
    Tensor out = torch::empty_like(q);
    Tensor lse = torch::empty({n, t}, q.options());
    SingleThreadedBlas blas;
    at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        Tensor s = torch::mm(qs[i], k[i].t());  // [T, T], in cache
        Tensor row_max = s.amax(1, /*keepdim=*/true);
        Tensor p = s.sub_(row_max).exp_();
        Tensor row_sum = p.sum(1, /*keepdim=*/true);
        Tensor out_i = out[i];
        torch::mm_out(out_i, p, v[i]).div_(row_sum);
        lse[i].copy_(row_max.add_(row_sum.log_()).squeeze(1));
      }
    });
    ctx->save_for_backward({qs, k, v, out, lse});
    return out;
  }

  // With S = qs k^T, P = softmax(S), O = P v: dv = P^T dO; dS = P * (dO v^T - D) with
  // D = rowsum(dO * O); dq = dS k / sqrt(d); dk = dS^T qs.
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &qs = saved[0], &k = saved[1], &v = saved[2], &out = saved[3], &lse = saved[4];
    const Tensor d_out = grads[0].contiguous();
    const int64_t n = qs.size(0);
    const double scale = 1.0 / std::sqrt(static_cast<double>(qs.size(2)));
    Tensor dq = torch::empty_like(qs), dk = torch::empty_like(k), dv = torch::empty_like(v);
    const Tensor row_dot = (d_out * out).sum(2, /*keepdim=*/true);  // D [N, T, 1]
    SingleThreadedBlas blas;
    at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        // The probabilities again, from the saved log-sum-exp.
        Tensor p = torch::mm(qs[i], k[i].t()).sub_(lse[i].unsqueeze(1)).exp_();  // [T, T]
        Tensor dq_i = dq[i], dk_i = dk[i], dv_i = dv[i];
        torch::mm_out(dv_i, p.t(), d_out[i]);
        Tensor ds = torch::mm(d_out[i], v[i].t()).sub_(row_dot[i]).mul_(p);
        torch::mm_out(dq_i, ds, k[i]).mul_(scale);
        torch::mm_out(dk_i, ds.t(), qs[i]);
      }
    });
    return {dq, dk, dv};
  }
};

}  // namespace

Tensor SliceWiseAttention(const Tensor& q, const Tensor& k, const Tensor& v) {
  const int64_t b = q.size(0), h = q.size(1), t = q.size(2), d = q.size(3);
  auto flat = [&](const Tensor& x) { return x.contiguous().view({b * h, t, d}); };
  return SliceWiseAttentionFunction::apply(flat(q), flat(k), flat(v)).view({b, h, t, d});
}

Tensor MaskedAttention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask, bool causal,
                       double dropout) {
  const int64_t t = q.size(2);
  Tensor scores = torch::matmul(q * (1.0 / std::sqrt(static_cast<double>(q.size(3)))), k.transpose(2, 3));
  Tensor allowed;
  if (key_mask.defined()) allowed = key_mask.to(torch::kBool).view({key_mask.size(0), 1, 1, t});
  if (causal) {
    Tensor lower = torch::ones({t, t}, torch::TensorOptions().dtype(torch::kBool).device(q.device())).tril().view({1, 1, t, t});
    allowed = allowed.defined() ? allowed.logical_and(lower) : lower;
  }
  if (allowed.defined()) scores = scores.masked_fill(allowed.logical_not(), std::numeric_limits<float>::lowest());
  Tensor w = torch::softmax(scores, -1);
  if (dropout > 0) w = torch::dropout(w, dropout, /*train=*/true);
  return torch::matmul(w, v);
}

}  // namespace braintune::model
