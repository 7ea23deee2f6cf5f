// Common includes and raw-integer conversions for the asicflow kernel library.
//
// A value of type ac_fixed<W, I, S> is exchanged with the flow as its raw W-bit integer
// (two's complement when signed), meaning raw * 2^-(W - I): see asicflow/fixed.py.
#ifndef ASICFLOW_DEFINES_H_
#define ASICFLOW_DEFINES_H_

#include <ac_fixed.h>
#include <ac_int.h>

namespace asicflow {

// The raw integer of a fixed-point value (exact for widths up to 63 bits).
template <class T>
long long to_raw(const T& v) {
  return v.template slc<T::width>(0).to_int64();
}

// The fixed-point value with raw integer `raw` (bits above the width are dropped).
template <class T>
T from_raw(long long raw) {
  T v;
  v.set_slc(0, ac_int<T::width, T::sign>(raw));
  return v;
}

}  // namespace asicflow

#endif  // ASICFLOW_DEFINES_H_
