"""Open a page in headless Chromium (the Debian package) as a reader would.

``render`` dumps the DOM after the page's load event, reading the image counts that
the report's inline script writes into <body>, and takes a screenshot. The flags keep
Chromium off the network it would otherwise try to reach at start-up (it stalls on a
closed network) and out of any profile but a fresh one.
"""
import os
import re
import shutil
import subprocess
import tempfile
from typing import NamedTuple

import numpy as np

FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync']
WINDOW = '--window-size=1280,4000'


class Rendered(NamedTuple):
  images: int          # <img> elements in the page
  images_loaded: int   # of those, complete with a natural width
  screenshot: str      # PNG path


def chromium() -> str:
  path = shutil.which('chromium') or shutil.which('chromium-browser')
  if not path:
    raise RuntimeError('Chromium is not installed: apt-get install -y --no-install-recommends '
                       'chromium (scripts/test.sh does this when run as root)')
  return path


def _chromium(*args: str, timeout: int = 120) -> str:
  with tempfile.TemporaryDirectory() as profile:
    done = subprocess.run([chromium(), *FLAGS, f'--user-data-dir={profile}', *args],
                          capture_output=True, text=True, timeout=timeout, check=True)
  return done.stdout


def render(html_path: str, screenshot_path: str) -> Rendered:
  url = 'file://' + os.path.abspath(html_path)
  dom = _chromium('--dump-dom', url)
  body = re.search(r'<body([^>]*)>', dom)
  attributes = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1) if body else ''))
  if 'data-images' not in attributes:
    raise RuntimeError(f'{html_path}: the page\'s image check did not run (no data-images '
                       'on <body> after load)')
  _chromium(f'--screenshot={screenshot_path}', WINDOW, url)
  return Rendered(int(attributes['data-images']), int(attributes['data-images-loaded']),
                  screenshot_path)


def is_blank(png_path: str) -> bool:
  """True for a screenshot of one flat colour (nothing drawn)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  pixels = np.asarray(Image.open(png_path).convert('RGB'), dtype=np.float64)
  colours = np.unique(pixels.reshape(-1, 3), axis=0)
  return len(colours) <= 1 or float(pixels.var()) < 1.0
