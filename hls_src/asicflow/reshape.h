// Reshape / Flatten: the flat data is unchanged (out_t is the producer's type); a copy that
// is wiring once unrolled.
#ifndef ASICFLOW_RESHAPE_H_
#define ASICFLOW_RESHAPE_H_

#include "asicflow/defines.h"

namespace asicflow {

template <class in_t, class out_t, int N>
void copy(const in_t x[N], out_t y[N]) {
#pragma hls_unroll yes
COPY:
  for (int i = 0; i < N; i++) {
    y[i] = x[i];
  }
}

}  // namespace asicflow

#endif  // ASICFLOW_RESHAPE_H_
