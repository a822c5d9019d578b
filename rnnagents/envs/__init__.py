"""Gymnasium environments of rnnagents; importing this registers their ids."""

from rnnagents.envs.registration import register_envs

register_envs()
