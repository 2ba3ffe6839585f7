"""VideoIngest: labelled patient videos and stills -> subject-split face-crop TFRecords."""
