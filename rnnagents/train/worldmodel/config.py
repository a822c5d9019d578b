"""The World Models run config under the name every kind uses (``train/KIND/config.py``).

It is defined a floor lower, in ``rnnagents.worldmodel.config``, because the world model's own
files (V, M, the dream, collection) read it.
"""

from rnnagents.worldmodel.config import CONFIG, PRESETS, WorldModelConfig

__all__ = ["CONFIG", "PRESETS", "WorldModelConfig"]
