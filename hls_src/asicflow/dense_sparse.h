// Fully connected layer, reuse factor R > 1, constant weights: zero weights skipped
// (see asicflow/dense.h).
#ifndef ASICFLOW_DENSE_SPARSE_H_
#define ASICFLOW_DENSE_SPARSE_H_

#include "asicflow/defines.h"

namespace asicflow {

// Reuse factor R > 1 with constant weights: only the nonzero weights are multiplied. They are
// listed as (w[e], input row[e], output col[e]), NNZ entries padded by the generator with zero
// weights to a multiple of R; R rounds of BLOCK = NNZ / R multipliers, pipelined at II 1.
template <class in_t, class w_t, class b_t, class acc_t, class out_t, int N_IN, int N_OUT, int NNZ,
          int R, int BLOCK>
void dense_sparse(const in_t x[N_IN], out_t y[N_OUT], const w_t w[NNZ], const int row[NNZ],
                  const int col[NNZ], const b_t b[N_OUT]) {
  acc_t acc[N_OUT];
#pragma hls_unroll yes
DENSE_S_INIT:
  for (int j = 0; j < N_OUT; j++) {
    acc[j] = b[j];
  }
#pragma hls_pipeline_init_interval 1
DENSE_S_ROUND:
  for (int r = 0; r < R; r++) {
#pragma hls_unroll yes
  DENSE_S_MAC:
    for (int k = 0; k < BLOCK; k++) {
      const int e = k * R + r;
      acc[col[e]] += (acc_t)(x[row[e]] * w[e]);
    }
  }
#pragma hls_unroll yes
DENSE_S_OUT:
  for (int j = 0; j < N_OUT; j++) {
    y[j] = (out_t)acc[j];
  }
}

}  // namespace asicflow

#endif  // ASICFLOW_DENSE_SPARSE_H_
