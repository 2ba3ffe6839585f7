"""A read that fails for a passing reason is retried; one that keeps failing stops the
run, and is never cached as a lost input.

The media sit behind ``tests/flaky_storage.py``'s ``flaky://`` filesystem: a stand-in
for a bucket whose connection resets (no cloud is reachable from CI), dispatched to by
Beam's own ``FileSystems``. Everything else is real: TFX's LocalDagRunner with SQLite
MLMD and its cache, Beam's DirectRunner (in memory, where the stand-in is registered),
PyAV decoding from the stand-in's streams, and dlib.
"""
import json

import pytest

from components.video_ingest import manifest, splits
from pipeline.options import DataOptions, RuntimeOptions
from pipeline.runners import local as local_runner
from preprocessing import transient
from tests import flaky_storage, ingest_fixtures

pytestmark = pytest.mark.slow  # runs ingest pipelines

IMAGE_SIZE = 64
BEAM = ('--direct_running_mode=in_memory',)


def _ingest(manifest_path, root):
  metadata_path = local_runner.run(
      root, DataOptions(manifest_path, ingest_image_size=IMAGE_SIZE,
                        input_fingerprint=manifest.fingerprint(manifest_path)),
      runtime=RuntimeOptions(beam_args=BEAM), stop_after='ingest')
  per_split, summary = ingest_fixtures.read_ingest(metadata_path)
  key = lambda e: (e.features.feature['video_id'].bytes_list.value[0],
                   e.features.feature['timestamp_ms'].int64_list.value[0])
  return {s: sorted(v, key=key) for s, v in per_split.items()}, summary


@pytest.fixture(scope='module')
def cohort(tmp_path_factory, no_face_images):
  root = tmp_path_factory.mktemp('transient')
  data = ingest_fixtures.build(str(root / 'data'), no_face_images)
  clean = _ingest(data['manifest'], str(root / 'clean'))
  return {'root': root, 'manifest': flaky_storage.uri(data['manifest']), 'clean': clean}


@pytest.fixture(autouse=True)
def _reset():
  flaky_storage.FAILS.clear()
  flaky_storage.READS.clear()
  yield
  flaky_storage.FAILS.clear()


def test_retried_faults_leave_the_examples_of_a_clean_run(cohort):
  # p000: its header read fails, then its decode; the still: its one read.
  flaky_storage.FAILS.update({'p000.mp4': 2, 'p001.mp4': 1, 'still.JPG': 1})
  examples, summary = _ingest(cohort['manifest'], str(cohort['root'] / 'flaky'))
  clean_examples, clean_summary = cohort['clean']
  assert not any(flaky_storage.FAILS.values())  # every planned fault happened
  for split in splits.SPLIT_NAMES:
    assert examples[split] and examples[split] == clean_examples[split], split
  assert summary['failed_inputs'] == clean_summary['failed_inputs']
  assert summary['faces_found'] == clean_summary['faces_found']


def test_a_persistent_fault_stops_the_run_and_is_not_cached(cohort, capfd):
  root = str(cohort['root'] / 'persistent')
  flaky_storage.FAILS['p002.mp4'] = -1
  with pytest.raises(Exception) as raised:
    _ingest(cohort['manifest'], root)
  text = f'{raised.value}\n{capfd.readouterr().err}'
  assert isinstance(raised.value, transient.TransientReadError), raised.value
  assert 'still failing after 3 tries' in text
  assert 'row 4 (video ' in text  # p002 is the manifest's row 4
  assert 'row 4 is flaky://' in text  # its path, on this machine's console only
  # The next run, with the network back, reads the file: no cache of the failure.
  flaky_storage.FAILS.clear()
  examples, summary = _ingest(cohort['manifest'], root)
  clean_examples, clean_summary = cohort['clean']
  assert summary == dict(clean_summary, processing_seconds=summary['processing_seconds'])
  assert examples == clean_examples
  assert json.dumps(summary).count('"row": 4') == 0
