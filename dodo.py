"""doit entry point: `doit csim`, `doit rtl_cosim:digits_mlp`, `doit` (= report, every flow).

Flows are flows/*.yaml, or the YAML files listed in $ASICFLOW_FLOWS. Thin on purpose: the tasks
come from the step declarations in asicflow/steps (see asicflow/tasks.py).
"""

import sys

from asicflow.errors import AsicflowError
from asicflow.tasks import all_tasks, doit_config

try:
    DOIT_CONFIG = doit_config()
except AsicflowError as exc:  # e.g. an unusable build folder: one message, no traceback
    print(f"asicflow: error: {exc}", file=sys.stderr)
    sys.exit(1)
globals().update(all_tasks())
