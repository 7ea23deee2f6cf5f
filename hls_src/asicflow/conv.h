// 2-D convolution (1-D as H = 1), plain or depthwise, reuse factor 1: every output position
// in parallel (geometry: asicflow/window.h; arithmetic: asicflow/conv_position.h).
#ifndef ASICFLOW_CONV_H_
#define ASICFLOW_CONV_H_

#include "asicflow/conv_position.h"
#include "asicflow/defines.h"
#include "asicflow/window.h"

namespace asicflow {

template <class in_t, class w_t, class b_t, class acc_t, class out_t, int H, int W, int C, int F,
          int KH, int KW, int SH, int SW, int PT, int PL, int HO, int WO, int HP, int WP, int HC,
          int WC, bool DEPTHWISE>
void conv2d(const in_t x[H * W * C], out_t y[HO * WO * F],
            const w_t w[KH * KW * C * (DEPTHWISE ? 1 : F)], const b_t b[F]) {
  in_t xp[HP * WP * C];
  pad_frame<in_t, H, W, C, HP, WP, PT, PL, HC, WC>(x, xp, (in_t)0);
#pragma hls_unroll yes
CONV_POS:
  for (int p = 0; p < HO * WO; p++) {
    conv_position<in_t, w_t, b_t, acc_t, out_t, C, F, KH, KW, SH, SW, WO, WP, DEPTHWISE>(
        xp, y, w, b, p);
  }
}

}  // namespace asicflow

#endif  // ASICFLOW_CONV_H_
