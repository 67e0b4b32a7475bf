"""rbc_dataset.manifest: parent_keys, the unit a sample was cut from, which audit and build both group by."""

from __future__ import annotations

import pandas as pd

from rbc_dataset.manifest import parent_keys


def test_parent_keys_fall_back_from_parent_to_group_to_the_sample_itself():
    rows = pd.DataFrame(
        {
            "sample_id": ["tile_01", "image_b", "image_c", "image_d"],
            "parent_id": ["image_a", None, "", float("nan")],
            "group_id": ["g1", "g2", None, float("nan")],
        }
    )
    assert parent_keys(rows) == ["image_a", "g2", "image_c", "image_d"]
