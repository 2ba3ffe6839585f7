"""A stage that stops a run on purpose says so with ``RunStopped``.

The anomaly gate (data that broke the schema), ingest (media that gave no face at all) and
the Trainer (a GPU required and absent) each stop the run because going on could only give
a result nobody should trust. Their messages say why and what to do, so the command line
prints them as they are, without a traceback (``pipeline/cli/errors.py``), and any other
error keeps its traceback: that one is a bug.
"""


class RunStopped(RuntimeError):
  """A stage stopped the run on purpose; the message is for the person who started it."""
