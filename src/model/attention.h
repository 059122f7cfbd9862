// Scaled dot-product attention without dropout, softmax(q k^T / sqrt(d)) v, for the encoder.
//
// LibTorch 2.x has a fused kernel (at::scaled_dot_product_attention). Debian's LibTorch 1.13
// has none: composed from bmm and softmax, every [B, heads, T, T] score, probability and their
// gradients make a round trip through memory (32 MB each for the tiny encoder's 10 s clips),
// which bounds the CPU training step. Here each (batch, head) slice is done on its own thread,
// its T x T scores staying in cache; only the output and each row's log-sum-exp are kept, and
// backward recomputes the probabilities from them (as FlashAttention does), so nothing of size
// T x T outlives a slice.
#ifndef BRAINTUNE_MODEL_ATTENTION_H_
#define BRAINTUNE_MODEL_ATTENTION_H_

#include <torch/torch.h>

namespace braintune::model {

// q, k, v [B, heads, T, d] (any strides) -> [B, heads, T, d]; differentiable in q, k and v.
torch::Tensor SliceWiseAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);

// softmax(q k^T / sqrt(d)) v over [B, heads, T, d] with keys masked out where key_mask [B, T] is 0
// (undefined: none) and, when `causal`, every key after its query (the text encoders); dropout
// p on the weights. A masked score is the dtype's lowest value, as in Hugging Face.
torch::Tensor MaskedAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                              const torch::Tensor& key_mask, bool causal, double dropout = 0.0);

}  // namespace braintune::model

#endif  // BRAINTUNE_MODEL_ATTENTION_H_
