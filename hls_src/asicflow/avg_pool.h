// Average pooling with exact ac_fixed semantics (see asicflow/golden.py; geometry:
// asicflow/window.h), per channel.
#ifndef ASICFLOW_AVG_POOL_H_
#define ASICFLOW_AVG_POOL_H_

#include "asicflow/defines.h"
#include "asicflow/window.h"

namespace asicflow {

// y = (out_t)(s * 2^-k): s = exact sum over the window's in-bounds inputs (the padding holds
// 0), n = 2^k their count (a power of two, checked by the converter), so the division only
// moves the binary point and the cast to out_t is the one rounding. G = ceil(log2(PH * PW)):
// the sum's growth and the largest shift.
template <class in_t, class out_t, int H, int W, int C, int PH, int PW, int SH, int SW, int PT,
          int PL, int HO, int WO, int HP, int WP, int HC, int WC, int G>
void avg_pool(const in_t x[H * W * C], out_t y[HO * WO * C]) {
  typedef ac_fixed<in_t::width + G, in_t::i_width + G, in_t::sign> sum_t;
  typedef ac_fixed<in_t::width + 2 * G, in_t::i_width + G, in_t::sign> mean_t;
  in_t xp[HP * WP * C];
  pad_frame<in_t, H, W, C, HP, WP, PT, PL, HC, WC>(x, xp, (in_t)0);
#pragma hls_unroll yes
AVGPOOL_POS:
  for (int p = 0; p < HO * WO; p++) {
    const int top = (p / WO) * SH;
    const int left = (p % WO) * SW;
    const int n = in_bounds(top - PT, PH, H) * in_bounds(left - PL, PW, W);
    int k = 0;
#pragma hls_unroll yes
  AVGPOOL_LOG2:
    for (int g = 1; g <= G; g++) {
      k += static_cast<int>((n >> g) > 0);
    }
#pragma hls_unroll yes
  AVGPOOL_CH:
    for (int c = 0; c < C; c++) {
      sum_t s = 0;
#pragma hls_unroll yes
    AVGPOOL_PH:
      for (int ph = 0; ph < PH; ph++) {
#pragma hls_unroll yes
      AVGPOOL_PW:
        for (int pw = 0; pw < PW; pw++) {
          s += xp[((top + ph) * WP + left + pw) * C + c];
        }
      }
      mean_t mean = s;
      mean >>= k;
      y[p * C + c] = (out_t)mean;
    }
  }
}

}  // namespace asicflow

#endif  // ASICFLOW_AVG_POOL_H_
