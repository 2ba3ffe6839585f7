import pytest

from preprocessing.labels import GRADES, UnknownLabelError, grade_id


@pytest.mark.parametrize('label,expected', [
    ('I', 0), ('ii', 1), ('HB-III', 2), ('House-Brackmann IV', 3), ('V', 4), ('VI', 5),
    ('0', 0), ('5', 5), (3, 3),
    ('normal', 0), ('near_normal', 1), ('near normal', 1), ('Severe', 4),
    ('NearNormal', 1), ('Complete', 5), ('Moderate', 3),
])
def test_every_scale_maps_to_the_six_grades(label, expected):
  assert grade_id(label) == expected
  assert GRADES[expected] in ('normal', 'near_normal', 'mild', 'moderate', 'severe', 'complete')


@pytest.mark.parametrize('label', ['VII', '6', '-1', 'paralysed', '', 'HB'])
def test_unknown_labels_are_errors(label):
  with pytest.raises(UnknownLabelError, match='unknown label'):
    grade_id(label)
