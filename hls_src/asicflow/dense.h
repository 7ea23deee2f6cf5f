// Fully connected layer with exact ac_fixed semantics (see asicflow/golden.py).
//
// Weights are one flat array in C order of (N_IN, N_OUT): w[i * N_OUT + j] connects input i
// to output j (the same flat layout whether they are constants or top-level inputs).
#ifndef ASICFLOW_DENSE_H_
#define ASICFLOW_DENSE_H_

#include "asicflow/defines.h"

namespace asicflow {

// Reuse factor 1: y[j] = (out_t)((acc_t)b[j] + sum_i (acc_t)(x[i] * w[i][j])).
// The product of two ac_fixed values is exact; acc_t carries the accumulator's rounding mode
// and AC_WRAP, so each cast rounds at the accumulator's LSB and the sum is modular (hence
// independent of the order of the additions, which the reuse variants below rely on).
template <class in_t, class w_t, class b_t, class acc_t, class out_t, int N_IN, int N_OUT>
void dense(const in_t x[N_IN], out_t y[N_OUT], const w_t w[N_IN * N_OUT], const b_t b[N_OUT]) {
#pragma hls_unroll yes
DENSE_OUT:
  for (int j = 0; j < N_OUT; j++) {
    acc_t acc = b[j];
#pragma hls_unroll yes
  DENSE_IN:
    for (int i = 0; i < N_IN; i++) {
      acc += (acc_t)(x[i] * w[i * N_OUT + j]);
    }
    y[j] = (out_t)acc;
  }
}

}  // namespace asicflow

#endif  // ASICFLOW_DENSE_H_
