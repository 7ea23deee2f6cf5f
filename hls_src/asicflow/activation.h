// Element-wise activation: a quantizer cast, optionally after ReLU (see asicflow/golden.py).
#ifndef ASICFLOW_ACTIVATION_H_
#define ASICFLOW_ACTIVATION_H_

#include "asicflow/defines.h"

namespace asicflow {

// y[i] = (out_t)(RELU && x[i] < 0 ? 0 : x[i]), rounding and overflow as out_t says.
template <class in_t, class out_t, int N, bool RELU>
void activation(const in_t x[N], out_t y[N]) {
#pragma hls_unroll yes
ACT:
  for (int i = 0; i < N; i++) {
    y[i] = (RELU && x[i] < 0) ? (out_t)0 : (out_t)x[i];
  }
}

}  // namespace asicflow

#endif  // ASICFLOW_ACTIVATION_H_
