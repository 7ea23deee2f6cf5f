// 2-D convolution, reuse factor R > 1 (see asicflow/conv.h): the HO * WO positions in R
// rounds of BLOCK = ceil(HO * WO / R) positions (unit k computes positions k * R .. k * R +
// R - 1, one per round), the rounds pipelined at II 1: 1/R of the multipliers. The weight
// index of every product stays a constant, so zero weights still fold away.
#ifndef ASICFLOW_CONV_REUSE_H_
#define ASICFLOW_CONV_REUSE_H_

#include "asicflow/conv_position.h"
#include "asicflow/defines.h"
#include "asicflow/window.h"

namespace asicflow {

template <class in_t, class w_t, class b_t, class acc_t, class out_t, int H, int W, int C, int F,
          int KH, int KW, int SH, int SW, int PT, int PL, int HO, int WO, int HP, int WP, int HC,
          int WC, bool DEPTHWISE, int R, int BLOCK>
void conv2d_reuse(const in_t x[H * W * C], out_t y[HO * WO * F],
                  const w_t w[KH * KW * C * (DEPTHWISE ? 1 : F)], const b_t b[F]) {
  in_t xp[HP * WP * C];
  pad_frame<in_t, H, W, C, HP, WP, PT, PL, HC, WC>(x, xp, (in_t)0);
#pragma hls_pipeline_init_interval 1
CONV_R_ROUND:
  for (int r = 0; r < R; r++) {
#pragma hls_unroll yes
  CONV_R_POS:
    for (int k = 0; k < BLOCK; k++) {
      // Past the last position (BLOCK * R > HO * WO) a unit recomputes the last one: the
      // same value written twice, without a branch.
      const int p = k * R + r;
      const int last = HO * WO - 1;
      const int at = p - (p - last) * static_cast<int>(p > last);
      conv_position<in_t, w_t, b_t, acc_t, out_t, C, F, KH, KW, SH, SW, WO, WP, DEPTHWISE>(
          xp, y, w, b, at);
    }
  }
}

}  // namespace asicflow

#endif  // ASICFLOW_CONV_REUSE_H_
