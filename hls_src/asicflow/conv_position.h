// One output position of a 2-D convolution (shared by asicflow/conv.h and conv_reuse.h):
// every output (ho, wo, f) is a dense output over its window's in-bounds inputs
// (asicflow/golden.py).
//
// Weights are flat in C order of (KH, KW, C, F) (depthwise: (KH, KW, C), output channel f
// uses input channel f only); the bias has F entries. Padding positions of the frame hold
// zeros, whose products (acc_t)(0 * w) are 0 in every rounding mode: they contribute nothing.
#ifndef ASICFLOW_CONV_POSITION_H_
#define ASICFLOW_CONV_POSITION_H_

#include "asicflow/defines.h"

namespace asicflow {

// The F outputs of position p (= ho * WO + wo) from the padded frame xp (WP columns).
template <class in_t, class w_t, class b_t, class acc_t, class out_t, int C, int F, int KH,
          int KW, int SH, int SW, int WO, int WP, bool DEPTHWISE>
void conv_position(const in_t* xp, out_t* y, const w_t* w, const b_t* b, int p) {
  const int top = (p / WO) * SH;
  const int left = (p % WO) * SW;
#pragma hls_unroll yes
CONV_FILTER:
  for (int f = 0; f < F; f++) {
    acc_t acc = b[f];
#pragma hls_unroll yes
  CONV_KH:
    for (int kh = 0; kh < KH; kh++) {
#pragma hls_unroll yes
    CONV_KW:
      for (int kw = 0; kw < KW; kw++) {
        const int at = ((top + kh) * WP + left + kw) * C;
        const int tap = (kh * KW + kw) * C;
#pragma hls_unroll yes
      CONV_CH:
        for (int i = 0; i < (DEPTHWISE ? 1 : C); i++) {  // depthwise: channel f only
          const int c = DEPTHWISE ? f : i;
          acc += (acc_t)(xp[at + c] * w[DEPTHWISE ? tap + c : (tap + c) * F + f]);
        }
      }
    }
    y[p * F + f] = (out_t)acc;
  }
}

}  // namespace asicflow

#endif  // ASICFLOW_CONV_POSITION_H_
