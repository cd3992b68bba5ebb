"""The live worker: the Faust app, its input consumer, cross-topic order, gap guard and ordered commits."""
