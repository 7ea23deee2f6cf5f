// Element-wise sum of two branches (skip connection), exact (see asicflow/golden.py). More
// than two inputs are chained by the generator through exact partial sums.
#ifndef ASICFLOW_ADD_H_
#define ASICFLOW_ADD_H_

#include "asicflow/defines.h"

namespace asicflow {

// y[i] = (out_t)(a[i] + b[i]): ac_fixed's sum is exact, the cast to out_t the one rounding.
template <class a_t, class b_t, class out_t, int N>
void add(const a_t a[N], const b_t b[N], out_t y[N]) {
#pragma hls_unroll yes
ADD:
  for (int i = 0; i < N; i++) {
    y[i] = (out_t)(a[i] + b[i]);
  }
}

}  // namespace asicflow

#endif  // ASICFLOW_ADD_H_
