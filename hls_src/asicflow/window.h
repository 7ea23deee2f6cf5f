// Sliding-window geometry shared by convolution and pooling (see asicflow/golden.py).
//
// Tensors are flat arrays in C order of (H, W, C), channels last: element (h, w, c) is at
// (h * W + w) * C + c. A layer with kernel/pool KH x KW, stride SH x SW and padding PT (top)
// and PL (left) has HO x WO output positions; position (ho, wo) reads input rows
// ho * SH - PT .. + KH - 1 and columns wo * SW - PL .. + KW - 1, of which only the in-bounds
// ones count. The kernels copy the input into a padded frame xp of HP = (HO - 1) * SH + KH
// rows and WP = (WO - 1) * SW + KW columns first (the generator computes HP, WP), so the
// window loops carry no bounds tests: fully unrolled, the copy is wiring.
#ifndef ASICFLOW_WINDOW_H_
#define ASICFLOW_WINDOW_H_

#include "asicflow/defines.h"

namespace asicflow {

// Fill the padded frame xp ((HP, WP, C), the input at offset (PT, PL)) with `pad` and copy
// the HC x WC input rows/columns that some window reaches into it.
template <class in_t, int H, int W, int C, int HP, int WP, int PT, int PL, int HC, int WC>
void pad_frame(const in_t x[H * W * C], in_t xp[HP * WP * C], const in_t pad) {
#pragma hls_unroll yes
PAD_FILL:
  for (int i = 0; i < HP * WP * C; i++) {
    xp[i] = pad;
  }
#pragma hls_unroll yes
PAD_ROW:
  for (int h = 0; h < HC; h++) {
#pragma hls_unroll yes
  PAD_COL:
    for (int w = 0; w < WC; w++) {
#pragma hls_unroll yes
    PAD_CH:
      for (int c = 0; c < C; c++) {
        xp[((h + PT) * WP + w + PL) * C + c] = x[(h * W + w) * C + c];
      }
    }
  }
}

// max(a, 0) without a branch (the comparison's bool is a 0/1 factor).
inline int positive_part(int a) { return a * static_cast<int>(a > 0); }

// How many of the K window rows starting at `start` lie inside 0 .. N - 1.
inline int in_bounds(int start, int K, int N) {
  return K - positive_part(-start) - positive_part(start + K - N);
}

}  // namespace asicflow

#endif  // ASICFLOW_WINDOW_H_
