"""The evidence report in a real headless browser (Debian's Chromium): the page renders,
every image loads, and the screenshot is not blank. The checks are shown to fail on a
page with broken images and on a blank page. The full-pipeline test renders a real
run's report the same way."""
import numpy as np
import pytest

from components.evidence_report import page, plots, roc, sections
from preprocessing.labels import NUM_GRADES
from tests import browser
from tests.report_evidence import evidence

pytestmark = pytest.mark.slow  # starts Chromium


def _write(tmp_path, html: str) -> str:
  path = tmp_path / 'report.html'
  path.write_text(html)
  return str(path)


def test_a_report_renders_with_every_image_loaded(tmp_path):
  curve = roc.roc_curve([1, 0, 1, 0], [0.9, 0.6, 0.4, 0.1])
  matrix = np.eye(NUM_GRADES, dtype=int)
  figure = plots.roc_png({'normal': curve}, 'frames')
  found = evidence().calibration
  html = sections.report_page(evidence(
      training_curves=figure, roc=figure,
      confusion=plots.confusion_png({'frame': matrix, 'subject': matrix}, 'held-out'),
      reliability=plots.reliability_png({c.name: c.sums for c in found}, 'frames'),
      risk_coverage=plots.risk_coverage_png(np.array([0.5, 1.0]), np.array([0.0, 0.5]),
                                            np.array([0.0, 0.0]), 1.0)))
  rendered = browser.render(_write(tmp_path, html), str(tmp_path / 'shot.png'))
  # Training curves, confusion matrices, ROC curves, the reliability diagram, the
  # risk-coverage curve.
  assert rendered.images == 5
  assert rendered.images_loaded == 5
  assert not browser.is_blank(rendered.screenshot)


def test_a_broken_image_is_reported(tmp_path):
  good = page.image(plots.roc_png({}, 'fine'), 'fine')
  corrupt = page.image(b'\x89PNG\r\n\x1a\n but no image', 'corrupt')
  missing = '<img src="no-such-file.png" alt="missing">'
  html = page.document('broken', page.section('s', 'images', good, corrupt, missing))
  rendered = browser.render(_write(tmp_path, html), str(tmp_path / 'shot.png'))
  assert (rendered.images, rendered.images_loaded) == (3, 1)


def test_a_blank_page_gives_a_blank_screenshot(tmp_path):
  html = '<!DOCTYPE html><html><body data-images="0" data-images-loaded="0"></body></html>'
  rendered = browser.render(_write(tmp_path, html), str(tmp_path / 'shot.png'))
  assert browser.is_blank(rendered.screenshot)
