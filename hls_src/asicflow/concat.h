// Concatenation along the last axis (channels), every input cast to out_t first
// (see asicflow/golden.py).
#ifndef ASICFLOW_CONCAT_H_
#define ASICFLOW_CONCAT_H_

#include "asicflow/defines.h"

namespace asicflow {

// One input: P positions of CI channels each go to channels OFFSET .. OFFSET + CI - 1 of the
// CO channels of y.
template <class in_t, class out_t, int P, int CI, int CO, int OFFSET>
void concat(const in_t x[P * CI], out_t y[P * CO]) {
#pragma hls_unroll yes
CONCAT_POS:
  for (int p = 0; p < P; p++) {
#pragma hls_unroll yes
  CONCAT_CH:
    for (int c = 0; c < CI; c++) {
      y[p * CO + OFFSET + c] = (out_t)x[p * CI + c];
    }
  }
}

}  // namespace asicflow

#endif  // ASICFLOW_CONCAT_H_
