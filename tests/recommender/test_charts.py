"""The communities map's label placement (recommender/communities/map.py)."""

from recommender.communities.map import LABEL_CHAR_WIDTH, LABEL_HEIGHT, label_positions


def _box(x, y, anchor, name):
    span = len(name) * LABEL_CHAR_WIDTH
    left = x if anchor == "start" else x - span
    return left, y - LABEL_HEIGHT + 3, left + span, y + 3


def _overlap(a, b):
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])


def test_labels_of_close_communities_do_not_overlap_and_stay_on_the_map():
    # The demo's map of 2026-11-27, where three centres lay within 30 px (map units) and their
    # labels, all right of their dots, covered each other.
    dots = [
        (297, 173),
        (302, 147),
        (204, 132),
        (163, 196),
        (376, 138),
        (446, 173),
        (472, 177),
        (474, 186),
        (224, 294),
        (380, 332),
    ]
    names = [
        "War & Drama",
        "War & Romance",
        "Crime & Film-Noir",
        "Film-Noir & Romance",
        "Horror & Sci-Fi",
        "Musical & Comedy",
        "Animation & Family",
        "Fantasy & Family",
        "Thriller & Mystery",
        "Action & Thriller",
    ]
    positions = label_positions(dots, names, width=640, height=420)
    boxes = [_box(*position, name) for position, name in zip(positions, names, strict=True)]
    for first in range(len(boxes)):
        for second in range(first + 1, len(boxes)):
            assert not _overlap(boxes[first], boxes[second]), (names[first], names[second], positions)
    assert all(box[0] >= 0 and box[2] <= 640 and box[1] >= 0 and box[3] <= 420 for box in boxes)
    assert positions[0] == (307, 177, "start")  # the first (largest) keeps the usual place, right of its dot
    # Near the right edge the label goes left of its dot.
    assert label_positions([(630, 100)], ["Animation & Family"], width=640, height=420) == [(620, 104, "end")]
