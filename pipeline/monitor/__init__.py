"""Drift of the graded inputs against the training data (``palsy-tfx monitor``).

``graded`` reads predict's and archive grading's output, ``baseline`` finds what to
compare with (the training split's StatisticsGen statistics, through MLMD), ``config``
reads the drift config, ``drift`` runs TFDV's statistics and comparators, ``page`` draws
the HTML page, and ``monitor.run`` ties them together.
"""
