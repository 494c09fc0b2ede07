"""The rock-paper-scissors game: a trained model playing a person or a simulated player."""
