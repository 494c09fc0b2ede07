"""Data the project makes itself, NOT from the book: synthetic digits, the
lane simulator and simulated rock-paper-scissors players. Used when the real
source is unavailable (offline, or gone), and always announced as such."""
