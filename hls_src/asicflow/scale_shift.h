// Per-channel scale and shift (batch normalization that cannot be folded), exact ac_fixed
// semantics (see asicflow/golden.py).
#ifndef ASICFLOW_SCALE_SHIFT_H_
#define ASICFLOW_SCALE_SHIFT_H_

#include "asicflow/defines.h"

namespace asicflow {

// y[i] = (out_t)(x[i] * s[c] + b[c]) with c = i % C (channels last). The product and the sum
// are ac_fixed's full-precision results, so the one rounding is the cast to out_t.
template <class in_t, class s_t, class b_t, class out_t, int N, int C>
void scale_shift(const in_t x[N], out_t y[N], const s_t s[C], const b_t b[C]) {
#pragma hls_unroll yes
SCALE:
  for (int i = 0; i < N; i++) {
    y[i] = (out_t)(x[i] * s[i % C] + b[i % C]);
  }
}

}  // namespace asicflow

#endif  // ASICFLOW_SCALE_SHIFT_H_
