"""Prediction files carry the dataset's severity on every row, never a severity the rule derived."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from benchmarks.suite.cases import prediction_frame


def test_module1_rows_carry_the_datasets_severity_not_the_rules():
    derived = pd.DataFrame(
        {
            "sample_id": ["h", "mild", "unknown"],
            "parent_id": ["p0", "p1", "p2"],
            "group_id": ["g0", "g1", "g2"],
            "label": [0, 1, 1],
            "severity": [-1, 0, 1],  # "unknown"'s 1 was derived by the rule
        }
    )
    data = SimpleNamespace(table=derived, known_severity=np.array([-1, 0, -1]))
    probs = {"global": np.array([0.1, 0.9, 0.8]), "severity": np.array([0.5, 0.2, 0.7])}
    frame = prediction_frame(data, probs, anaemic=1)
    module1 = frame[frame["task"] == "module1"].set_index("sample_id")
    assert module1["severity"].to_dict() == {"h": -1, "mild": 0, "unknown": -1}
    module2 = frame[frame["task"] == "module2"].set_index("sample_id")
    assert module2.loc["mild", "label_source"] == "dataset" and module2.loc["unknown", "label_source"] == "rule"
    assert module2.loc["unknown", "label"] == 1 and module2.loc["unknown", "severity"] == -1
