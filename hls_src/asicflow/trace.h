// Per-layer trace for C simulation: with -DASICFLOW_TRACE every ASICFLOW_TRACE_LAYER call
// writes one line "<stimulus> <layer> <raw0> <raw1> ..." for the selected stimuli. Without
// it the macro expands to nothing, so the synthesised design is unaffected.
#ifndef ASICFLOW_TRACE_H_
#define ASICFLOW_TRACE_H_

#ifdef ASICFLOW_TRACE
#include <cstdio>

#include "asicflow/defines.h"

namespace asicflow {

struct TraceState {
  std::FILE* file = nullptr;
  long stimulus = 0;
  bool on = false;
};

inline TraceState& trace_state() {
  static TraceState state;
  return state;
}

template <class T>
void trace_layer(const char* layer, const T* v, int n) {
  TraceState& t = trace_state();
  if (t.file == nullptr || !t.on) return;
  std::fprintf(t.file, "%ld %s", t.stimulus, layer);
  for (int i = 0; i < n; i++) std::fprintf(t.file, " %lld", to_raw(v[i]));
  std::fputc('\n', t.file);
}

}  // namespace asicflow

#define ASICFLOW_TRACE_LAYER(layer, v, n) asicflow::trace_layer(layer, v, n)
#else
#define ASICFLOW_TRACE_LAYER(layer, v, n) ((void)0)
#endif

#endif  // ASICFLOW_TRACE_H_
