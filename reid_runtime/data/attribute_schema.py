"""Attribute columns of the AITL attribute CSVs (per tracklet), with their class counts.

Group 0 holds the ID-irrelevant attributes (action, view, occlusion, ...), group 1 the ID-relevant ones
(clothes colours, bag, hair, ...). In the CSVs the key columns ``person_id, camera_id, tracklets_id``
come first, then the group-0 columns, then the group-1 columns.
"""

from __future__ import annotations

from dataclasses import dataclass

KEY_COLUMNS: tuple[str, str, str] = ("person_id", "camera_id", "tracklets_id")


@dataclass(frozen=True)
class AttributeSchema:
    """Names, class counts and group (0 = ID-irrelevant, 1 = ID-relevant) of each attribute column."""

    name: str
    columns: tuple[str, ...]
    num_classes: tuple[int, ...]
    groups: tuple[int, ...]

    def __post_init__(self) -> None:
        if not (len(self.columns) == len(self.num_classes) == len(self.groups)):
            raise ValueError("columns, num_classes and groups must have the same length")

    def indices(self, group: int) -> list[int]:
        """Column positions of one group, in CSV order."""
        return [i for i, g in enumerate(self.groups) if g == group]

    def group_classes(self, group: int) -> list[int]:
        return [self.num_classes[i] for i in self.indices(group)]

    def one_hot_size(self, group: int) -> int:
        """Width of the concatenated one-hot target of a group (MARS: 25 and 41; Duke: 25 and 33)."""
        return sum(self.group_classes(group))


_IRRELEVANT = ("action", "angle", "occulusion", "cut", "multi-person", "back-dominant",
               "target-change", "target-miss", "wrongtarget")
_IRRELEVANT_CLASSES = (5, 6, 2, 2, 2, 2, 2, 2, 2)

_MARS_RELEVANT = ("upcolor", "downcolor", "age", "up", "down", "bag", "backpack", "hat", "handbag",
                  "hair", "gender", "btype")
_MARS_RELEVANT_CLASSES = (9, 10, 4, 2, 2, 2, 2, 2, 2, 2, 2, 2)

_DUKE_RELEVANT = ("backpack", "shoulder bag", "handbag", "boots", "gender", "hat", "shoes", "top",
                  "downcolor", "topcolor")
_DUKE_RELEVANT_CLASSES = (2, 2, 2, 2, 2, 2, 2, 2, 8, 9)

MARS_ATTRIBUTES = AttributeSchema(
    name="mars",
    columns=_IRRELEVANT + _MARS_RELEVANT,
    num_classes=_IRRELEVANT_CLASSES + _MARS_RELEVANT_CLASSES,
    groups=(0,) * len(_IRRELEVANT) + (1,) * len(_MARS_RELEVANT),
)

DUKE_ATTRIBUTES = AttributeSchema(
    name="dukev",
    columns=_IRRELEVANT + _DUKE_RELEVANT,
    num_classes=_IRRELEVANT_CLASSES + _DUKE_RELEVANT_CLASSES,
    groups=(0,) * len(_IRRELEVANT) + (1,) * len(_DUKE_RELEVANT),
)

SCHEMAS: dict[str, AttributeSchema] = {"mars": MARS_ATTRIBUTES, "dukev": DUKE_ATTRIBUTES}
CSV_FILENAMES: dict[str, str] = {"mars": "mars_attributes.csv", "dukev": "duke_attributes.csv"}
