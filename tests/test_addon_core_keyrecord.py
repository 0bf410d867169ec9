"""addon.core.keyrecord: telling the Generated keys the animator touched (no Blender)."""

from addon.core import keyrecord
from addon.core.keyrecord import KeyState

AUTO = (1, 2)      # stand-ins for Blender's AUTO and AUTO_CLAMPED enum values
ALIGNED, FREE = 3, 4
BEZIER, LINEAR = 0, 1


def key(frame, value, lt=2, rt=2, interp=BEZIER, left=None, right=None):
    return KeyState(frame, value, interp, lt, rt, left or (frame - 0.3, value), right or (frame + 0.3, value))


def test_round_trip_and_untouched():
    keys = [key(1, 0.1), key(5.5, 0.4, FREE, FREE), key(9, 0.2)]
    record = keyrecord.decode(keyrecord.encode({keyrecord.frame_slot(k.frame): k for k in keys}))
    assert keyrecord.touched(record, keys, AUTO) == []


def test_moved_retyped_and_reshaped_keys_are_touched():
    keys = [key(1, 0.1), key(5.5, 0.4, FREE, FREE), key(9, 0.2), key(12, 0.3)]
    record = {keyrecord.frame_slot(k.frame): k for k in keys}
    now = [key(1, 0.35),                                            # value moved
           key(5.5, 0.4, FREE, FREE, right=(6.0, 0.9)),             # a free handle dragged
           key(9.0, 0.2, ALIGNED, ALIGNED),                          # auto handle dragged: Blender retypes it
           key(13, 0.3)]                                             # moved in time
    assert [k.frame for k in keyrecord.touched(record, now, AUTO)] == [1, 5.5, 9.0, 13]
    # Blender recomputing auto handles (a neighbour changed) is not a touch.
    assert keyrecord.touched(record, [key(12, 0.3, left=(11.0, 0.1))], AUTO) == []
    assert keyrecord.touched(record, [key(12, 0.3, interp=LINEAR)], AUTO) != []


def test_no_record_means_nothing_can_be_told():
    assert keyrecord.touched(None, [key(1, 0.1)], AUTO) == []


def test_update_after_a_write():
    old = {keyrecord.frame_slot(f): key(f, 0.1) for f in (1, 4, 10, 20, 30)}
    # The animator moved the key at 30 (outside the next write) and the one at 1.
    generated = [key(1, 0.5), key(4, 0.1, ALIGNED, ALIGNED), key(9.5, 0.2, FREE, FREE), key(10, 0.7), key(12, 0.6),
                 key(14.5, 0.3, FREE, FREE), key(20, 0.1, ALIGNED, ALIGNED), key(30, 0.9)]
    new = keyrecord.updated(old, generated, 9.5, 14.5, neighbours=[4, 20], untouched=[4, 20])
    slots = {s.frame: s for s in new.values()}
    assert slots[10].value == 0.7 and 12 in slots and 9.5 in slots and 14.5 in slots  # the write's own keys
    assert slots[4].left_type == ALIGNED and slots[20].left_type == ALIGNED  # neighbours it held
    assert slots[1].value == 0.1 and slots[30].value == 0.1  # moved keys outside stay told apart
    assert [k.frame for k in keyrecord.touched(new, generated, AUTO)] == [1, 30]
