// Fully connected layer, reuse factor R > 1, weights as inputs (see asicflow/dense.h).
#ifndef ASICFLOW_DENSE_REUSE_H_
#define ASICFLOW_DENSE_REUSE_H_

#include "asicflow/defines.h"

namespace asicflow {

// Reuse factor R > 1, every weight (weights as inputs): the N_IN * N_OUT products are computed
// in R rounds of BLOCK = ceil(N_IN * N_OUT / R) multipliers (the generator passes BLOCK).
// Multiplier k handles the weights k * R .. k * R + R - 1, one per round; the rounds form a
// loop pipelined at II 1, so the layer takes R cycles per inference with BLOCK multipliers.
template <class in_t, class w_t, class b_t, class acc_t, class out_t, int N_IN, int N_OUT, int R,
          int BLOCK>
void dense_reuse(const in_t x[N_IN], out_t y[N_OUT], const w_t w[N_IN * N_OUT],
                 const b_t b[N_OUT]) {
  acc_t acc[N_OUT];
#pragma hls_unroll yes
DENSE_R_INIT:
  for (int j = 0; j < N_OUT; j++) {
    acc[j] = b[j];
  }
#pragma hls_pipeline_init_interval 1
DENSE_R_ROUND:
  for (int r = 0; r < R; r++) {
#pragma hls_unroll yes
  DENSE_R_MAC:
    for (int k = 0; k < BLOCK; k++) {
      // Past the last weight (BLOCK * R > N_IN * N_OUT) a unit multiplies weight 0 and adds
      // nothing: masked without a branch.
      const int e = k * R + r;
      const int valid = static_cast<int>(e < N_IN * N_OUT);
      const int at = e * valid;
      acc[at % N_OUT] += (acc_t)(x[at / N_OUT] * w[at]) * ac_int<1, false>(valid);
    }
  }
#pragma hls_unroll yes
DENSE_R_OUT:
  for (int j = 0; j < N_OUT; j++) {
    y[j] = (out_t)acc[j];
  }
}

}  // namespace asicflow

#endif  // ASICFLOW_DENSE_REUSE_H_
