"""How a model is judged, shared by the Evaluator and the components after it: the
clinical measures (``clinical_metrics``), the TFMA metric that computes them per frame,
video and subject (``patient_metrics``), the one reader of the Evaluator's output
(``results``), the metric table (``tables``), and the gates and judgement that the
evidence report and the model card both show. No TFX component lives here."""
