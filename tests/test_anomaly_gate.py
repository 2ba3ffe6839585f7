"""The gate that turns ExampleValidator's findings into a stopped run."""
import os

from tensorflow_metadata.proto.v0 import anomalies_pb2

from components.anomaly_gate import describe_anomalies


def test_anomalies_are_listed_per_split_and_feature(tmp_path):
  report = anomalies_pb2.Anomalies()
  info = report.anomaly_info['label']
  info.short_description = 'Out-of-range values'
  info.description = 'Unexpectedly large value: 7.'
  os.makedirs(tmp_path / 'Split-eval')
  (tmp_path / 'Split-eval' / 'SchemaDiff.pb').write_bytes(report.SerializeToString())
  os.makedirs(tmp_path / 'Split-train')
  (tmp_path / 'Split-train' / 'SchemaDiff.pb').write_bytes(
      anomalies_pb2.Anomalies().SerializeToString())
  problems = describe_anomalies(str(tmp_path), ['train', 'eval'])
  assert problems == ['eval/label: Out-of-range values (Unexpectedly large value: 7.)']
