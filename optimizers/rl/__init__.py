"""Reinforcement learning: a REINFORCE controller."""
