"""What the Evaluator decided about one model, read once from its ModelEvaluation.

The evidence report and the model card both show it, from this one reader, so the two
can never print different numbers or gates for the same evaluation.
"""
from typing import Dict, List, NamedTuple

import numpy as np

from components.evaluation import gates, results


class Judgement(NamedTuple):
  metrics: Dict[str, float]            # the candidate's overall metrics, CIs beside them
  matrices: Dict[str, np.ndarray]      # level -> confusion matrix [true, predicted]
  failures: List[results.Failure]      # every threshold the candidate missed
  gates: List[gates.Gate]              # every threshold, with its verdict


def read(evaluation_uri: str) -> Judgement:
  metrics = results.overall_metrics(evaluation_uri)
  failures = results.threshold_failures(evaluation_uri)
  return Judgement(
      metrics=metrics, matrices=results.confusion_matrices(evaluation_uri),
      failures=failures,
      gates=gates.gate_rows(gates.load_eval_config(evaluation_uri), metrics,
                            results.overall_metrics(evaluation_uri, changes=True), failures))
