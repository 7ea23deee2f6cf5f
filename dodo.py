"""doit entry point: `doit csim`, `doit rtl_cosim:digits_mlp`, `doit` (= report, every flow).

Flows are flows/*.yaml, or the YAML files listed in $ASICFLOW_FLOWS. Thin on purpose: the tasks
come from the step declarations in asicflow/steps (see asicflow/tasks.py).
"""

from asicflow.tasks import all_tasks, doit_config

DOIT_CONFIG = doit_config()
globals().update(all_tasks())
