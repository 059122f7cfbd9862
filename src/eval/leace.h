// LEACE, LEAst-squares Concept Erasure (Belrose et al., NeurIPS 2023), in closed form: of all
// affine edits of features x that leave no linear predictor of the concept z better than a
// constant, the one that moves x least (in the whitened metric):
//
//   W = Sigma_xx^(-1/2) (whitening, pseudo-inverse on the null space), W+ = Sigma_xx^(1/2),
//   P = the orthogonal projection onto the column space of W Sigma_xz,
//   r(x) = x - W+ P W (x - mu_x).
//
// After the edit the cross-covariance of r(X) and Z on the fitting data is zero. Used by the
// erasure control (erasure_control.h). bench/reference/leace_reference.py is the same in NumPy.
#ifndef BRAINTUNE_EVAL_LEACE_H_
#define BRAINTUNE_EVAL_LEACE_H_

#include <torch/torch.h>

namespace braintune::eval {

struct ConceptEraser {
  torch::Tensor mean;      // [d] float64
  torch::Tensor edit;      // [d, d] float64: rows x become x - (x - mean) edit
  int64_t rank = 0;        // directions erased (at most the concept's dimension)
  // x [n, d] (any float type) -> the erased features, same type.
  torch::Tensor Apply(const torch::Tensor& x) const;
};

// Fits the eraser on features x [n, d] and concept values z [n, k] (k columns: a scalar
// concept, or one-hot classes). REQUIRES: n >= 2.
ConceptEraser FitLeace(const torch::Tensor& x, const torch::Tensor& z);

// R^2 on (x_test, z_test) of a ridge probe z ~ x fitted on (x_train, z_train) (features
// standardised on the training rows, `alpha` on the standardised scale): how much of the
// concept a linear read-out recovers on held-out items. Can be negative.
double ProbeR2(const torch::Tensor& x_train, const torch::Tensor& z_train, const torch::Tensor& x_test,
               const torch::Tensor& z_test, double alpha = 1.0);

}  // namespace braintune::eval

#endif  // BRAINTUNE_EVAL_LEACE_H_
