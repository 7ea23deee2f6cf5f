// Max pooling with exact ac_fixed semantics (see asicflow/golden.py; geometry:
// asicflow/window.h): y = (out_t)(max over the window's in-bounds inputs), per channel.
#ifndef ASICFLOW_MAX_POOL_H_
#define ASICFLOW_MAX_POOL_H_

#include "asicflow/defines.h"
#include "asicflow/window.h"

namespace asicflow {

// The padding holds in_t's least value, so it never wins (every window holds an input).
template <class in_t, class out_t, int H, int W, int C, int PH, int PW, int SH, int SW, int PT,
          int PL, int HO, int WO, int HP, int WP, int HC, int WC>
void max_pool(const in_t x[H * W * C], out_t y[HO * WO * C]) {
  in_t least;
  least.template set_val<AC_VAL_MIN>();
  in_t xp[HP * WP * C];
  pad_frame<in_t, H, W, C, HP, WP, PT, PL, HC, WC>(x, xp, least);
#pragma hls_unroll yes
MAXPOOL_POS:
  for (int p = 0; p < HO * WO; p++) {
    const int top = (p / WO) * SH;
    const int left = (p % WO) * SW;
#pragma hls_unroll yes
  MAXPOOL_CH:
    for (int c = 0; c < C; c++) {
      in_t m = least;
#pragma hls_unroll yes
    MAXPOOL_PH:
      for (int ph = 0; ph < PH; ph++) {
#pragma hls_unroll yes
      MAXPOOL_PW:
        for (int pw = 0; pw < PW; pw++) {
          const in_t v = xp[((top + ph) * WP + left + pw) * C + c];
          m = v > m ? v : m;
        }
      }
      y[p * C + c] = (out_t)m;
    }
  }
}

}  // namespace asicflow

#endif  // ASICFLOW_MAX_POOL_H_
