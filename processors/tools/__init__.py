"""Developer and demo tools: the simulator, the sample stream, the demo, the benchmark and the soak run."""
