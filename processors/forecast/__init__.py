"""The evidence forecast: win probabilities learned from closed deals, rolled up per period.

Pure like the core: everything is computed from facts and alerts passed in, as of a moment passed
in. ``history`` folds the log into deal timelines, ``features`` describes a deal at a moment,
``model`` learns the win probability, ``forecast`` rolls it up, ``accuracy`` replays history.
"""
