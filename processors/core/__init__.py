"""The pure core: deal state, the decider and evolve.

Imports ``schemas`` and the standard library only: no Kafka, database, metrics, wall clock
or randomness. ``now`` is always passed in, so live and backtest give the same answers.
"""

from processors.core.decide import Decision, process, tick
from processors.core.detection.lifecycle import next_wake
from processors.core.evolve import evolve, replay
from processors.core.state import DealState

__all__ = ["Decision", "DealState", "evolve", "next_wake", "process", "replay", "tick"]
