"""The plumbing shared by the chapter 2 scripts: flags, run folders, data, plots.

No chapter models live here; each script keeps its own network in view.
"""

import os

# Keep TensorFlow's C++ start-up chatter out of the learner's console
# (set before TensorFlow is first imported; an explicit setting wins).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
