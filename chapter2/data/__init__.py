"""Loaders for the real data sources: MNIST, driving recordings, games of data.txt."""
