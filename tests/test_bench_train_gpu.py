"""``bench/train_gpu.py --tiny`` runs as CI runs it, on the CPU, and prints one JSON line
per configuration: the demo preset with and without mixed precision and XLA."""
import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

pytestmark = pytest.mark.slow  # trains, in four configurations
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_tiny_configuration_prints_a_line_per_configuration():
  done = subprocess.run([sys.executable, os.path.join(ROOT, 'bench', 'train_gpu.py'), '--tiny'],
                        capture_output=True, text=True, timeout=600,
                        env={**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '2'})
  assert done.returncode == 0, done.stderr[-3000:]
  lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{')]
  assert [(l['mixed_precision'], l['jit_compile']) for l in lines] == [
      (False, False), (False, True), (True, False), (True, True)]
  on_gpu = bool(tf.config.list_physical_devices('GPU'))
  for line in lines:
    assert 'error' not in line, line
    assert (line['preset'], line['image_size'], line['global_batch']) == ('demo', 32, 16)
    assert line['images_per_s'] > 0 and line['in_memory_images_per_s'] > 0
    assert 0 <= line['input_wait_share'] < 1
    assert (line['peak_device_memory_mb'] is None) == (not on_gpu)
