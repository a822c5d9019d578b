"""rnnagents: recurrent RL agents and the Gymnasium environments they live in.

``import rnnagents`` (or ``gymnasium.register_envs(rnnagents)``) registers the ``rnnagents/*``
environment ids.
"""

from rnnagents import envs as envs

__version__ = "0.1.0"
