// Staircase quantizer (binary, ternary, po2, hard sigmoid/tanh, leaky ReLU ... as steps),
// exact (see asicflow/golden.py).
#ifndef ASICFLOW_STEPS_H_
#define ASICFLOW_STEPS_H_

#include "asicflow/defines.h"

namespace asicflow {

// y[i] = level[number of thresholds th[t] <= x[i]] (thresholds increasing; th_t holds them
// exactly and the comparison is of exact values).
template <class in_t, class th_t, class out_t, int N, int T>
void steps(const in_t x[N], out_t y[N], const th_t th[T], const out_t level[T + 1]) {
#pragma hls_unroll yes
STEPS:
  for (int i = 0; i < N; i++) {
    int n = 0;
#pragma hls_unroll yes
  STEPS_TH:
    for (int t = 0; t < T; t++) {
      n += static_cast<int>(x[i] >= th[t]);
    }
    y[i] = level[n];
  }
}

}  // namespace asicflow

#endif  // ASICFLOW_STEPS_H_
