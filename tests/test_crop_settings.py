"""The crop record travels from ingest into the model and back out to prediction."""
import json
import os

import pytest

from preprocessing import crop_settings
from preprocessing.crop_settings import CropSettings

CROP = CropSettings(size=150, margin=0.3, detect_width=512, alignment='five_point')


def _model_dir(tmp_path, info):
  os.makedirs(tmp_path / 'assets.extra')
  with open(tmp_path / crop_settings.MODEL_INFO_FILE, 'w') as f:
    json.dump(info, f)
  return str(tmp_path)


def test_the_record_reads_back_what_ingest_wrote(tmp_path):
  written = json.loads(crop_settings.to_json(CROP, {'meei': 3, 'yfp': 6.0}, 2))
  model = _model_dir(tmp_path, {'preset': 'demo', 'crop_settings': written})
  for path in (model, os.path.join(model, crop_settings.MODEL_INFO_FILE)):
    record = crop_settings.from_model(path)
    assert record == crop_settings.CropRecord(CROP, {'meei': 3.0, 'yfp': 6.0}, 2.0)


@pytest.mark.parametrize('source,fps', [('yfp', 6.0), ('YFP', 6.0), ('ck', 2.0), (None, 2.0)])
def test_the_rate_of_a_source_else_the_default(source, fps):
  assert crop_settings.CropRecord(CROP, {'meei': 3.0, 'yfp': 6.0}, 2.0).fps(source) == fps


def test_a_model_from_before_the_record_fails_clearly(tmp_path):
  model = _model_dir(tmp_path, {'preset': 'demo', 'image_size': 64})
  with pytest.raises(crop_settings.ModelInfoError, match='does not record how the faces '
                                                         'were cropped.*retrain'):
    crop_settings.from_model(model)


def test_a_folder_that_is_no_model_fails_clearly(tmp_path):
  with pytest.raises(crop_settings.ModelInfoError,
                     match='palsy_model.json not found: give a pushed model version'):
    crop_settings.from_model(str(tmp_path))


def test_a_record_with_nonsense_fails_clearly(tmp_path):
  written = json.loads(crop_settings.to_json(CROP, {}, 3.0))
  written['crop']['alignment'] = 'sideways'
  with pytest.raises(crop_settings.ModelInfoError, match='unreadable crop_settings'):
    crop_settings.from_model(_model_dir(tmp_path, {'crop_settings': written}))
