"""Every label scale maps onto grade ids 0-5, and no number is read on a guessed scale."""
import pytest

from preprocessing.labels import UnknownLabelError, grade_id


@pytest.mark.parametrize('label,expected', [
    ('I', 0), ('ii', 1), ('HB-III', 2), ('House-Brackmann IV', 3), ('V', 4), ('VI', 5),
    ('hbv', 4), ('HB VI', 5),
    ('normal', 0), ('near_normal', 1), ('near normal', 1), ('Severe', 4),
    ('NearNormal', 1), ('Complete', 5), ('Moderate', 3), ('mild', 2),
])
def test_every_named_scale_maps_to_the_six_grades(label, expected):
  assert grade_id(label) == expected


@pytest.mark.parametrize('label,expected', [
    ('HB-1', 0), ('HB-4', 3), ('HB4', 3), ('HB 4', 3), ('hb_4', 3), ('House-Brackmann 4', 3),
    ('HouseBrackmann 2', 1), (' HB-6 ', 5),
])
def test_hb_prefixed_numbers_are_house_brackmann_1_to_6(label, expected):
  assert grade_id(label) == expected


def test_hb_prefixed_numbers_ignore_the_declared_bare_number_scale():
  assert grade_id('HB-4', numeric='id') == 3
  assert grade_id('HB-4', numeric='hb') == 3


@pytest.mark.parametrize('label', ['4', '0', 4, ' 2 '])
def test_an_undeclared_bare_number_is_refused_and_says_what_to_do(label):
  with pytest.raises(UnknownLabelError, match=r'bare number .* is ambiguous \(House-Brackmann '
                                              r'1-6 or grade id 0-5\): pass --numeric-labels '
                                              r'hb\|id or write HB-'):
    grade_id(label)


def test_the_refusal_suggests_the_explicit_label():
  with pytest.raises(UnknownLabelError) as e:
    grade_id('4')
  assert str(e.value) == ("bare number '4' is ambiguous (House-Brackmann 1-6 or grade id "
                          "0-5): pass --numeric-labels hb|id or write HB-4")


@pytest.mark.parametrize('label,hb,ids', [
    ('1', 0, 1), ('4', 3, 4), ('5', 4, 5), (6, 5, None), ('0', None, 0)])
def test_declared_bare_numbers(label, hb, ids):
  for scale, expected in (('hb', hb), ('id', ids)):
    if expected is None:
      with pytest.raises(UnknownLabelError, match='out of range'):
        grade_id(label, numeric=scale)
    else:
      assert grade_id(label, numeric=scale) == expected


@pytest.mark.parametrize('label,numeric,message', [
    ('HB-7', None, "label 'HB-7' is out of range (House-Brackmann 1-6)"),
    ('HB-0', 'id', "label 'HB-0' is out of range (House-Brackmann 1-6)"),
    ('6', 'id', "label '6' is out of range (grade id 0-5)"),
    ('0', 'hb', "label '0' is out of range (House-Brackmann 1-6)"),
    ('12', 'hb', "label '12' is out of range (House-Brackmann 1-6)"),
])
def test_out_of_range_numbers_name_the_value_and_the_range(label, numeric, message):
  with pytest.raises(UnknownLabelError) as e:
    grade_id(label, numeric=numeric)
  assert str(e.value) == message


@pytest.mark.parametrize('label', ['VII', 'HB-VII', '-1', '4.0', 'paralysed', '', 'HB',
                                   'grade 3'])
def test_unknown_labels_are_errors(label):
  for numeric in (None, 'hb', 'id'):
    with pytest.raises(UnknownLabelError, match='unknown label'):
      grade_id(label, numeric=numeric)


def test_an_unknown_numeric_scale_is_a_usage_error():
  with pytest.raises(ValueError, match="must be one of hb, id, got 'HB'"):
    grade_id('IV', numeric='HB')
