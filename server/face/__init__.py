"""The face model shared by inference, the teacher, training and the evaluation (lip_opening)."""
