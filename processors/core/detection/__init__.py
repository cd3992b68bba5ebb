"""Alert conditions: the detectors, their incremental evaluation and the condition-alert lifecycle."""
